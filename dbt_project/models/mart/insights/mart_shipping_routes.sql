{#
    BQ07: how geography affects shipping costs and delivery times. One row
    per route: the customer's nation x the supplier's nation. TPC-H has no
    freight cost; the cost proxy is the route's distance band (domestic <
    intra-region < inter-region) times the units it carries. Delivery is
    measured as days from ship to receipt (transit) and from order to
    receipt (lead time), and lateness against the commit date.
#}

with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

suppliers as (

    select * from {{ ref('stg_dim_supplier') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

regions as (

    select * from {{ ref('stg_dim_region') }}

),

nation_regions as (

    select
        nations.nation_key,
        nations.nation_name,
        nations.region_key,
        regions.region_name
    from nations
    inner join regions
        on nations.region_key = regions.region_key

),

routed_lines as (

    select
        customers.nation_key as customer_nation_key,
        suppliers.nation_key as supplier_nation_key,
        order_lines.quantity,
        order_lines.net_revenue,
        order_lines.transit_days,
        order_lines.days_late,
        order_lines.is_late,
        {{ days_between('order_lines.order_date', 'order_lines.receipt_date') }}
            as lead_time_days
    from order_lines
    inner join customers
        on order_lines.customer_key = customers.customer_key
    inner join suppliers
        on order_lines.supplier_key = suppliers.supplier_key

),

routes as (

    select
        customer_nation_key,
        supplier_nation_key,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue,
        sum(transit_days) as total_transit_days,
        sum(lead_time_days) as total_lead_time_days,
        sum(days_late) as total_days_late,
        sum(case when is_late then 1 else 0 end) as late_line_count
    from routed_lines
    group by customer_nation_key, supplier_nation_key

),

final as (

    select
        routes.customer_nation_key,
        routes.supplier_nation_key,
        customer_nations.region_key as customer_region_key,
        supplier_nations.region_key as supplier_region_key,
        customer_nations.nation_name as customer_nation_name,
        customer_nations.region_name as customer_region_name,
        supplier_nations.nation_name as supplier_nation_name,
        supplier_nations.region_name as supplier_region_name,
        case
            when routes.customer_nation_key = routes.supplier_nation_key
                then 'domestic'
            when customer_nations.region_key = supplier_nations.region_key
                then 'intra-region'
            else 'inter-region'
        end as route_type,
        routes.line_count,
        routes.quantity,
        routes.net_revenue,
        routes.total_transit_days,
        routes.total_lead_time_days,
        routes.total_days_late,
        routes.late_line_count,
        {{ ratio('routes.total_transit_days', 'routes.line_count', 2) }}
            as avg_transit_days,
        {{ ratio('routes.total_lead_time_days', 'routes.line_count', 2) }}
            as avg_lead_time_days,
        {{ ratio('routes.total_days_late', 'routes.line_count', 2) }}
            as avg_days_late,
        {{ ratio('routes.late_line_count', 'routes.line_count') }}
            as late_rate
    from routes
    inner join nation_regions as customer_nations
        on routes.customer_nation_key = customer_nations.nation_key
    inner join nation_regions as supplier_nations
        on routes.supplier_nation_key = supplier_nations.nation_key

)

select * from final
