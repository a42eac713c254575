{#
    Proves mart_customer_geography's acquisition-cost proxy is the discount
    on each customer's first order (earliest order date, then lowest order
    key), summed per nation. Recomputed here with min() instead of the
    mart's row_number(). Returns the nations whose proxy differs.
#}

with

geography as (

    select * from {{ ref('mart_customer_geography') }}

),

orders as (

    select * from {{ ref('mart_orders') }}

),

first_dates as (

    select
        customer_key,
        min(order_date) as first_order_date
    from orders
    group by customer_key

),

first_keys as (

    select
        orders.customer_key,
        min(orders.order_key) as first_order_key
    from orders
    inner join first_dates
        on
            orders.customer_key = first_dates.customer_key
            and orders.order_date = first_dates.first_order_date
    group by orders.customer_key

),

expected as (

    select
        orders.nation_key,
        sum(orders.discount_amount) as acquisition_cost_proxy
    from orders
    inner join first_keys
        on orders.order_key = first_keys.first_order_key
    group by orders.nation_key

),

final as (

    select
        geography.nation_key,
        geography.acquisition_cost_proxy,
        expected.acquisition_cost_proxy as expected_acquisition_cost_proxy
    from geography
    left join expected
        on geography.nation_key = expected.nation_key
    where
        geography.acquisition_cost_proxy
        <> coalesce(expected.acquisition_cost_proxy, 0)

)

select * from final
