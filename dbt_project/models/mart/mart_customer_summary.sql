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

rfm_scores as (

    -- Quintiles over customers who ordered: 5 = most recent / most
    -- frequent / highest value. Ties broken by customer_key so scores
    -- are deterministic.
    select
        customer_key,
        ntile(5) over (
            order by recency_days desc, customer_key
        ) as r_score,
        ntile(5) over (
            order by order_count asc, customer_key
        ) as f_score,
        ntile(5) over (
            order by lifetime_value asc, customer_key
        ) as m_score
    from customer_orders

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
        coalesce(customer_orders.order_count, 0) as order_count,
        coalesce(customer_orders.lifetime_value, 0) as lifetime_value,
        customer_orders.average_order_value,
        coalesce(customer_orders.orders_per_year, 0) as orders_per_year,
        customer_orders.avg_days_between_orders,
        customer_orders.recency_days,
        coalesce(customer_orders.order_count, 0) as frequency,
        coalesce(customer_orders.lifetime_value, 0) as monetary,
        rfm_scores.r_score,
        rfm_scores.f_score,
        rfm_scores.m_score,
        customer_orders.customer_key is not null as has_orders,
        coalesce(
            customer_orders.recency_days
            > {{ var('churn_gap_multiplier') }} * coalesce(
                customer_orders.avg_days_between_orders,
                {{ var('churn_default_gap_days') }}
            ),
            false
        ) as is_churn_risk,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.as_of_date
    from customers
    inner join nations
        on customers.nation_key = nations.nation_key
    inner join regions
        on nations.region_key = regions.region_key
    left join customer_orders
        on customers.customer_key = customer_orders.customer_key
    left join rfm_scores
        on customers.customer_key = rfm_scores.customer_key

)

select * from final
