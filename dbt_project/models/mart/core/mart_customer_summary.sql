with

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

regions as (

    select * from {{ ref('stg_dim_region') }}

),

customer_orders as (

    select * from {{ ref('int_customer_orders') }}

),

data_window as (

    -- "as of" is the data's last order date, never today
    select
        min(first_order_date) as first_data_date,
        max(last_order_date) as as_of_date
    from customer_orders

),

customer_recency as (

    select
        customer_orders.*,
        {{ days_between('customer_orders.last_order_date',
                        'data_window.as_of_date') }} as recency_days,
        cast(
            customer_orders.order_count * 365.25
            / ({{ days_between('data_window.first_data_date',
                                'data_window.as_of_date') }} + 1)
            as decimal(10, 4)
        ) as orders_per_year,
        data_window.as_of_date
    from customer_orders
    cross join data_window

),

rfm_scores as (

    -- Quintiles over customers who ordered: 5 = most recent / most
    -- frequent / highest value. Ties broken by customer_key so scores
    -- are deterministic.
    select
        customer_key,
        ntile(5) over (
            order by recency_days desc nulls last, customer_key asc
        ) as r_score,
        ntile(5) over (
            order by order_count asc, customer_key asc
        ) as f_score,
        ntile(5) over (
            order by lifetime_value asc, customer_key asc
        ) as m_score
    from customer_recency

),

final as (

    select
        customers.customer_key,
        customers.nation_key,
        nations.region_key,
        customers.customer_name,
        nations.nation_name,
        regions.region_name,
        customers.market_segment,
        {{ rfm_segment('rfm_scores.r_score', 'rfm_scores.f_score',
                       'rfm_scores.m_score') }} as rfm_segment,
        customers.account_balance,
        coalesce(customer_recency.order_count, 0) as order_count,
        coalesce(customer_recency.lifetime_value, 0) as lifetime_value,
        customer_recency.average_order_value,
        coalesce(customer_recency.orders_per_year, 0) as orders_per_year,
        customer_recency.avg_days_between_orders,
        customer_recency.recency_days,
        coalesce(customer_recency.order_count, 0) as frequency,
        coalesce(customer_recency.lifetime_value, 0) as monetary,
        rfm_scores.r_score,
        rfm_scores.f_score,
        rfm_scores.m_score,
        customer_recency.customer_key is not null as has_orders,
        coalesce(
            customer_recency.recency_days
            > {{ var('churn_gap_multiplier') }} * coalesce(
                customer_recency.avg_days_between_orders,
                {{ var('churn_default_gap_days') }}
            ),
            false
        ) as is_churn_risk,
        customer_recency.first_order_date,
        customer_recency.last_order_date,
        customer_recency.as_of_date
    from customers
    inner join nations
        on customers.nation_key = nations.nation_key
    inner join regions
        on nations.region_key = regions.region_key
    left join customer_recency
        on customers.customer_key = customer_recency.customer_key
    left join rfm_scores
        on customers.customer_key = rfm_scores.customer_key

)

select * from final
