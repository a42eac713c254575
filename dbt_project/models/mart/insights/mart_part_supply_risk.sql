{#
    BQ08: parts with single-source supply risk. One row per part. TPC-H
    offers every part from four suppliers, so strict single sourcing is
    rare; the mart also measures the risks that remain: one supplier
    delivering all of a part's units, all suppliers in one region (one
    disruption stops every source), and concentration (one supplier
    carrying at least `supply_concentration_share` of the units).
    risk_tier names the most severe risk that applies.
#}

with

supplier_parts as (

    select * from {{ ref('int_supplier_parts') }}

),

suppliers as (

    select * from {{ ref('stg_dim_supplier') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

data_window as (

    select
        {{ days_between('min(order_date)', 'max(order_date)') }} + 1
            as window_days
    from order_lines

),

offers as (

    select
        supplier_parts.part_key,
        supplier_parts.supplier_key,
        supplier_parts.part_name,
        supplier_parts.part_type,
        supplier_parts.brand,
        supplier_parts.shipped_quantity,
        supplier_parts.available_quantity,
        suppliers.nation_key,
        nations.region_key,
        row_number() over (
            partition by supplier_parts.part_key
            order by
                supplier_parts.shipped_quantity desc nulls last,
                supplier_parts.supplier_key asc
        ) as supplier_rank
    from supplier_parts
    inner join suppliers
        on supplier_parts.supplier_key = suppliers.supplier_key
    inner join nations
        on suppliers.nation_key = nations.nation_key

),

parts as (

    select
        part_key,
        max(part_name) as part_name,
        max(part_type) as part_type,
        max(brand) as brand,
        count(*) as supplier_count,
        sum(case when shipped_quantity > 0 then 1 else 0 end)
            as active_supplier_count,
        count(distinct nation_key) as supplier_nation_count,
        count(distinct region_key) as supplier_region_count,
        max(case when supplier_rank = 1 then supplier_key end)
            as top_supplier_key,
        sum(shipped_quantity) as shipped_quantity,
        max(case when supplier_rank = 1 then shipped_quantity end)
            as top_supplier_shipped_quantity,
        sum(shipped_quantity * shipped_quantity) as shipped_quantity_squares,
        sum(available_quantity) as available_quantity,
        sum(
            case when supplier_rank > 1 then available_quantity else 0 end
        ) as alternate_available_quantity
    from offers
    group by part_key

),

flagged as (

    select
        parts.*,
        {{ ratio('parts.top_supplier_shipped_quantity',
                 'parts.shipped_quantity') }} as top_supplier_share,
        {{ ratio('parts.shipped_quantity_squares',
                 'parts.shipped_quantity * parts.shipped_quantity') }}
            as concentration_hhi,
        {{ ratio('parts.shipped_quantity * 365.25',
                 'data_window.window_days', 2) }} as annual_demand,
        parts.supplier_count = 1 as is_single_source,
        parts.active_supplier_count = 1 as is_single_active_supplier,
        parts.supplier_region_count = 1 as is_single_region
    from parts
    cross join data_window

),

final as (

    select
        part_key,
        top_supplier_key,
        part_name,
        part_type,
        brand,
        case
            when is_single_source then 'single supplier'
            when is_single_active_supplier then 'single active supplier'
            when is_single_region then 'single region'
            when top_supplier_share >= {{ var('supply_concentration_share') }}
                then 'concentrated'
            else 'diversified'
        end as risk_tier,
        supplier_count,
        active_supplier_count,
        supplier_nation_count,
        supplier_region_count,
        shipped_quantity,
        top_supplier_shipped_quantity,
        available_quantity,
        alternate_available_quantity,
        top_supplier_share,
        concentration_hhi,
        annual_demand,
        {{ ratio('alternate_available_quantity', 'annual_demand', 1) }}
            as alternate_cover_years,
        is_single_source,
        is_single_active_supplier,
        is_single_region,
        coalesce(
            top_supplier_share >= {{ var('supply_concentration_share') }},
            false
        ) as is_concentrated
    from flagged

)

select * from final
