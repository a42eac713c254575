{#
    Proves mart_orders neither drops, duplicates nor rounds anything: its
    sums of net revenue, gross revenue, quantity and line count, and its
    order count, equal exactly those computed straight from staging.
    Returns one row per measure that differs. On incremental builds it
    reconciles what the new batches touched: the mart rows they wrote
    against staging's lines of those orders, and its order count against
    staging's orders of the new batches and of those orders (an order the
    mart dropped shows there); `--full-tests` reconciles all history (see
    batch_scope).
#}

{%- set scope = batch_scope(ref('mart_orders')) | trim %}

with

mart_orders as (

    select * from {{ ref('mart_orders') }}
    {% if scope %}where {{ scope }}{% endif %}

),

lineitems as (

    select * from {{ ref('stg_fct_lineitem') }}
    {% if scope %}
        where order_key in (select mart_orders.order_key from mart_orders)
    {% endif %}

),

orders as (

    select * from {{ ref('stg_fct_orders') }}
    {% if scope %}
        where
            {{ scope }}
            or order_key in (select mart_orders.order_key from mart_orders)
    {% endif %}

),

mart_totals as (

    select
        coalesce(sum(net_revenue), 0) as net_revenue,
        coalesce(sum(gross_revenue), 0) as gross_revenue,
        coalesce(sum(total_quantity), 0) as quantity,
        coalesce(sum(line_count), 0) as line_count,
        count(*) as order_count
    from mart_orders

),

line_totals as (

    select
        coalesce(
            sum(extended_price * (1 - discount)), 0
        ) as net_revenue,
        coalesce(
            sum(extended_price * (1 - discount) * (1 + tax)), 0
        ) as gross_revenue,
        coalesce(sum(quantity), 0) as quantity,
        count(*) as line_count
    from lineitems

),

order_totals as (

    select count(*) as order_count
    from orders

),

comparisons as (

    select
        'net_revenue' as measure,
        cast(mart_totals.net_revenue as varchar) as mart_value,
        cast(line_totals.net_revenue as varchar) as staging_value,
        mart_totals.net_revenue = line_totals.net_revenue as is_equal
    from mart_totals
    cross join line_totals

    union all

    select
        'gross_revenue' as measure,
        cast(mart_totals.gross_revenue as varchar) as mart_value,
        cast(line_totals.gross_revenue as varchar) as staging_value,
        mart_totals.gross_revenue = line_totals.gross_revenue as is_equal
    from mart_totals
    cross join line_totals

    union all

    select
        'quantity' as measure,
        cast(mart_totals.quantity as varchar) as mart_value,
        cast(line_totals.quantity as varchar) as staging_value,
        mart_totals.quantity = line_totals.quantity as is_equal
    from mart_totals
    cross join line_totals

    union all

    select
        'line_count' as measure,
        cast(mart_totals.line_count as varchar) as mart_value,
        cast(line_totals.line_count as varchar) as staging_value,
        mart_totals.line_count = line_totals.line_count as is_equal
    from mart_totals
    cross join line_totals

    union all

    select
        'order_count' as measure,
        cast(mart_totals.order_count as varchar) as mart_value,
        cast(order_totals.order_count as varchar) as staging_value,
        mart_totals.order_count = order_totals.order_count as is_equal
    from mart_totals
    cross join order_totals

),

final as (

    select
        measure,
        mart_value,
        staging_value
    from comparisons
    where not is_equal

)

select * from final
