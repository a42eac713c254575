{#
    BQ05 (cost-to-quality ratio) and BQ06 (lead times and reliability) per
    supplier. TPC-H records no quality inspections: quality is proxied by
    the share of a supplier's settled lines (return outcome known,
    return_flag R or A) that were not returned. Cost is the supplier's
    price index: its supply cost for each part it offers relative to the
    average offer for that part (1.00 = average, below 1 = cheaper).
#}

with

suppliers as (

    select * from {{ ref('stg_dim_supplier') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

regions as (

    select * from {{ ref('stg_dim_region') }}

),

partsupp as (

    select * from {{ ref('stg_fct_partsupp') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

part_costs as (

    select
        part_key,
        avg(supply_cost) as avg_supply_cost
    from partsupp
    group by part_key

),

offers as (

    select
        partsupp.supplier_key,
        count(*) as offered_part_count,
        sum(partsupp.available_quantity) as available_quantity,
        avg(
            partsupp.supply_cost * 1.0
            / nullif(part_costs.avg_supply_cost, 0)
        ) as price_index
    from partsupp
    inner join part_costs
        on partsupp.part_key = part_costs.part_key
    group by partsupp.supplier_key

),

line_lead_times as (

    select
        supplier_key,
        quantity,
        net_revenue,
        supply_cost_amount,
        gross_margin,
        return_flag,
        is_late,
        is_returned,
        days_late,
        days_to_ship,
        transit_days,
        {{ days_between('order_date', 'receipt_date') }} as lead_time_days
    from order_lines

),

deliveries as (

    select
        supplier_key,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue,
        sum(supply_cost_amount) as supply_cost_amount,
        sum(gross_margin) as gross_margin,
        sum(case when is_late then 1 else 0 end) as late_line_count,
        sum(
            case when return_flag <> 'N' then 1 else 0 end
        ) as settled_line_count,
        sum(case when is_returned then 1 else 0 end) as returned_line_count,
        avg(days_late * 1.0) as avg_days_late,
        avg(days_to_ship * 1.0) as avg_days_to_ship,
        avg(transit_days * 1.0) as avg_transit_days,
        avg(lead_time_days * 1.0) as avg_lead_time_days,
        stddev_samp(lead_time_days * 1.0) as lead_time_stddev_days,
        max(lead_time_days) as max_lead_time_days
    from line_lead_times
    group by supplier_key

),

scored as (

    select
        suppliers.supplier_key,
        suppliers.nation_key,
        nations.region_key,
        suppliers.supplier_name,
        nations.nation_name,
        regions.region_name,
        coalesce(offers.offered_part_count, 0) as offered_part_count,
        coalesce(offers.available_quantity, 0) as available_quantity,
        coalesce(deliveries.line_count, 0) as line_count,
        coalesce(deliveries.quantity, 0) as quantity,
        coalesce(deliveries.net_revenue, 0) as net_revenue,
        coalesce(deliveries.supply_cost_amount, 0) as supply_cost_amount,
        coalesce(deliveries.gross_margin, 0) as gross_margin,
        coalesce(deliveries.late_line_count, 0) as late_line_count,
        coalesce(deliveries.settled_line_count, 0) as settled_line_count,
        coalesce(deliveries.returned_line_count, 0) as returned_line_count,
        cast(offers.price_index as decimal(18, 4)) as price_index,
        cast(1 as decimal(18, 4)) - {{ ratio(
            'deliveries.returned_line_count',
            'deliveries.settled_line_count'
        ) }} as quality_score,
        cast(deliveries.avg_days_to_ship as decimal(18, 2))
            as avg_days_to_ship,
        cast(deliveries.avg_transit_days as decimal(18, 2))
            as avg_transit_days,
        cast(deliveries.avg_lead_time_days as decimal(18, 2))
            as avg_lead_time_days,
        cast(deliveries.lead_time_stddev_days as decimal(18, 2))
            as lead_time_stddev_days,
        deliveries.max_lead_time_days,
        cast(deliveries.avg_days_late as decimal(18, 2)) as avg_days_late
    from suppliers
    inner join nations
        on suppliers.nation_key = nations.nation_key
    inner join regions
        on nations.region_key = regions.region_key
    left join offers
        on suppliers.supplier_key = offers.supplier_key
    left join deliveries
        on suppliers.supplier_key = deliveries.supplier_key

),

final as (

    select
        supplier_key,
        nation_key,
        region_key,
        supplier_name,
        nation_name,
        region_name,
        offered_part_count,
        available_quantity,
        line_count,
        quantity,
        net_revenue,
        supply_cost_amount,
        gross_margin,
        late_line_count,
        settled_line_count,
        returned_line_count,
        {{ ratio('returned_line_count', 'settled_line_count') }}
            as return_rate,
        {{ ratio('line_count - late_line_count', 'line_count') }}
            as on_time_rate,
        price_index,
        quality_score,
        {{ ratio('price_index', 'quality_score') }} as cost_to_quality_ratio,
        avg_days_to_ship,
        avg_transit_days,
        avg_lead_time_days,
        lead_time_stddev_days,
        max_lead_time_days,
        avg_days_late,
        row_number() over (
            order by
                case when quality_score > 0 then 0 else 1 end,
                price_index / nullif(quality_score, 0),
                supplier_key
        ) as cost_to_quality_rank,
        row_number() over (
            order by
                case when line_count > 0 then 0 else 1 end asc,
                (line_count - late_line_count) * 1.0 / nullif(line_count, 0) desc nulls last,
                avg_days_late asc,
                supplier_key asc
        ) as reliability_rank
    from scored

)

select * from final
