{#
    Proves mart_customer_summary accounts for every order exactly once:
    total lifetime value equals total net revenue in mart_orders, and total
    order count equals the number of orders there. Returns the totals when
    either differs.
#}

with

customer_summary as (

    select * from {{ ref('mart_customer_summary') }}

),

mart_orders as (

    select * from {{ ref('mart_orders') }}

),

customer_totals as (

    select
        coalesce(sum(lifetime_value), 0) as lifetime_value,
        coalesce(sum(order_count), 0) as order_count
    from customer_summary

),

order_totals as (

    select
        coalesce(sum(net_revenue), 0) as net_revenue,
        count(*) as order_count
    from mart_orders

),

final as (

    select
        customer_totals.lifetime_value,
        order_totals.net_revenue,
        customer_totals.order_count,
        order_totals.order_count as mart_order_count
    from customer_totals
    cross join order_totals
    where
        customer_totals.lifetime_value <> order_totals.net_revenue
        or customer_totals.order_count <> order_totals.order_count

)

select * from final
