{{
    config(
        tags=['daily'],
    )
}}

with

partsupp as (

    select * from {{ ref('stg_fct_partsupp') }}

),

parts as (

    select * from {{ ref('stg_dim_part') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

supplier_reliability as (

    select
        supplier_key,
        count(*) as supplier_shipped_lines,
        avg(case when is_late then 0.0 else 1.0 end) as supplier_on_time_rate,
        avg(days_late * 1.0) as supplier_avg_days_late,
        avg(transit_days * 1.0) as supplier_avg_transit_days
    from order_lines
    group by supplier_key

),

supplier_part_sales as (

    select
        supplier_key,
        part_key,
        count(*) as shipped_lines,
        sum(quantity) as shipped_quantity,
        sum(net_revenue) as net_revenue
    from order_lines
    group by supplier_key, part_key

),

suppliers_per_part as (

    select
        part_key,
        count(*) as supplier_count
    from partsupp
    group by part_key

),

final as (

    select
        partsupp.part_key,
        partsupp.supplier_key,
        parts.part_name,
        parts.part_type,
        parts.brand,
        partsupp.available_quantity,
        partsupp.supply_cost,
        parts.retail_price,
        parts.retail_price - partsupp.supply_cost as unit_margin,
        partsupp.supply_cost * partsupp.available_quantity as inventory_value,
        coalesce(supplier_part_sales.shipped_lines, 0) as shipped_lines,
        coalesce(supplier_part_sales.shipped_quantity, 0) as shipped_quantity,
        coalesce(supplier_part_sales.net_revenue, 0) as net_revenue,
        coalesce(supplier_reliability.supplier_shipped_lines, 0)
            as supplier_shipped_lines,
        supplier_reliability.supplier_on_time_rate,
        supplier_reliability.supplier_avg_days_late,
        supplier_reliability.supplier_avg_transit_days,
        suppliers_per_part.supplier_count,
        suppliers_per_part.supplier_count = 1 as is_single_source
    from partsupp
    inner join parts
        on partsupp.part_key = parts.part_key
    inner join suppliers_per_part
        on partsupp.part_key = suppliers_per_part.part_key
    left join supplier_reliability
        on partsupp.supplier_key = supplier_reliability.supplier_key
    left join supplier_part_sales
        on
            partsupp.supplier_key = supplier_part_sales.supplier_key
            and partsupp.part_key = supplier_part_sales.part_key

)

select * from final
