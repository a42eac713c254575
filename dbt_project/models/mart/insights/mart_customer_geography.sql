{#
    BQ11: customer acquisition cost vs lifetime value by geography. One row
    per customer nation. TPC-H has no marketing spend, so there is no true
    acquisition cost. Proxy: the discount given on each customer's first
    order, the money spent to win that customer. Customers who never
    ordered count as not (yet) acquired.
#}

with

customer_summary as (

    select * from {{ ref('mart_customer_summary') }}

),

orders as (

    select * from {{ ref('mart_orders') }}

),

sequenced_orders as (

    select
        customer_key,
        discount_amount,
        net_revenue,
        row_number() over (
            partition by customer_key
            order by order_date, order_key
        ) as order_sequence
    from orders

),

first_orders as (

    select
        customer_key,
        discount_amount as first_order_discount_amount,
        net_revenue as first_order_net_revenue
    from sequenced_orders
    where order_sequence = 1

),

customers as (

    select
        customer_summary.nation_key,
        customer_summary.region_key,
        customer_summary.nation_name,
        customer_summary.region_name,
        customer_summary.has_orders,
        customer_summary.lifetime_value,
        customer_summary.order_count,
        first_orders.first_order_discount_amount,
        first_orders.first_order_net_revenue
    from customer_summary
    left join first_orders
        on customer_summary.customer_key = first_orders.customer_key

),

nation_totals as (

    select
        nation_key,
        region_key,
        nation_name,
        region_name,
        count(*) as customer_count,
        sum(case when has_orders then 1 else 0 end) as acquired_customer_count,
        sum(order_count) as order_count,
        sum(lifetime_value) as lifetime_value,
        coalesce(sum(first_order_discount_amount), 0)
            as acquisition_cost_proxy,
        coalesce(sum(first_order_net_revenue), 0) as first_order_net_revenue
    from customers
    group by nation_key, region_key, nation_name, region_name

),

final as (

    select
        nation_key,
        region_key,
        nation_name,
        region_name,
        customer_count,
        acquired_customer_count,
        order_count,
        lifetime_value,
        acquisition_cost_proxy,
        first_order_net_revenue,
        {{ ratio('acquired_customer_count', 'customer_count') }}
            as acquisition_rate,
        {{ ratio('lifetime_value', 'acquired_customer_count', 2) }}
            as avg_lifetime_value,
        {{ ratio('acquisition_cost_proxy', 'acquired_customer_count', 2) }}
            as avg_acquisition_cost_proxy,
        {{ ratio('lifetime_value', 'acquisition_cost_proxy', 2) }}
            as ltv_to_cac_ratio
    from nation_totals

)

select * from final
