with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

customer_totals as (

    select
        customer_key,
        count(distinct order_key) as order_count,
        count(*) as line_count,
        sum(net_revenue) as lifetime_value,
        sum(gross_revenue) as lifetime_gross_revenue,
        sum(quantity) as lifetime_quantity,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from order_lines
    group by customer_key

),

data_window as (

    select
        min(order_date) as first_data_date,
        max(order_date) as as_of_date
    from order_lines

),

final as (

    select
        customer_totals.customer_key,
        customer_totals.order_count,
        customer_totals.line_count,
        customer_totals.lifetime_value,
        customer_totals.lifetime_gross_revenue,
        customer_totals.lifetime_quantity,
        cast(
            customer_totals.lifetime_value / customer_totals.order_count
            as decimal(18, 2)
        ) as average_order_value,
        cast(
            customer_totals.order_count * 365.25
            / ({{ days_between('data_window.first_data_date',
                                'data_window.as_of_date') }} + 1)
            as decimal(10, 4)
        ) as orders_per_year,
        case
            when customer_totals.order_count > 1
                then cast(
                    {{ days_between('customer_totals.first_order_date',
                                    'customer_totals.last_order_date') }}
                    * 1.0 / (customer_totals.order_count - 1)
                    as decimal(10, 2)
                )
        end as avg_days_between_orders,
        {{ days_between('customer_totals.last_order_date',
                        'data_window.as_of_date') }} as recency_days,
        customer_totals.first_order_date,
        customer_totals.last_order_date,
        data_window.as_of_date
    from customer_totals
    cross join data_window

)

select * from final
