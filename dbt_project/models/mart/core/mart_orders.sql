{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='order_key',
        cluster_by=['order_year'],
    )
}}

with

{% if is_incremental() %}
watermark as (

    -- the last batch that changed any order already in this table
    select max(existing._batch_id) as batch_id from {{ this }} as existing

),

touched_orders as (

    -- orders that arrived after the watermark, and orders that received
    -- lines after it; each is rebuilt from all of its lines
    select order_key from {{ ref('stg_fct_orders') }}
    where _batch_id > (select batch_id from watermark)
    union
    select order_key from {{ ref('int_order_lineitems') }}
    where _batch_id > (select batch_id from watermark)

),
{% endif %}

orders as (

    select * from {{ ref('stg_fct_orders') }}
    {% if is_incremental() %}
        where order_key in (select order_key from touched_orders)
    {% endif %}

),

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

regions as (

    select * from {{ ref('stg_dim_region') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}
    {% if is_incremental() %}
        where order_key in (select order_key from touched_orders)
    {% endif %}

),

order_totals as (

    select
        order_key,
        count(*) as line_count,
        sum(quantity) as total_quantity,
        sum(extended_price) as extended_price,
        sum(discount_amount) as discount_amount,
        sum(net_revenue) as net_revenue,
        sum(gross_revenue) as gross_revenue,
        sum(supply_cost_amount) as supply_cost_amount,
        sum(gross_margin) as gross_margin,
        count(case when is_late then 1 end) as late_line_count,
        count(case when is_returned then 1 end) as returned_line_count,
        min(ship_date) as first_ship_date,
        max(receipt_date) as last_receipt_date,
        max(_batch_id) as last_line_batch_id
    from order_lines
    group by order_key

),

final as (

    select
        orders.order_key,
        orders.customer_key,
        customers.nation_key,
        nations.region_key,
        customers.customer_name,
        customers.market_segment,
        nations.nation_name,
        regions.region_name,
        orders.order_status,
        orders.order_priority,
        orders.clerk_name,
        orders.ship_priority,
        orders.total_price,
        order_totals.total_quantity,
        order_totals.line_count,
        order_totals.extended_price,
        order_totals.discount_amount,
        order_totals.net_revenue,
        order_totals.gross_revenue,
        order_totals.supply_cost_amount,
        order_totals.gross_margin,
        order_totals.late_line_count,
        order_totals.returned_line_count,
        cast(extract(year from orders.order_date) as integer) as order_year,
        order_totals.late_line_count > 0 as has_late_lines,
        orders.order_date,
        order_totals.first_ship_date,
        order_totals.last_receipt_date,
        case
            when order_totals.last_line_batch_id > orders._batch_id
                then order_totals.last_line_batch_id
            else orders._batch_id
        end as _batch_id
    from orders
    inner join order_totals
        on orders.order_key = order_totals.order_key
    inner join customers
        on orders.customer_key = customers.customer_key
    inner join nations
        on customers.nation_key = nations.nation_key
    inner join regions
        on nations.region_key = regions.region_key

)

select * from final
