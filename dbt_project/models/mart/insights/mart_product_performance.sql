{#
    BQ01: which products perform best by revenue and by margin.
    Margin is net revenue minus the supplier's supply cost of the units
    (TPC-H has no other product cost).
#}

with

parts as (

    select * from {{ ref('stg_dim_part') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

part_sales as (

    select
        part_key,
        count(*) as line_count,
        count(distinct order_key) as order_count,
        sum(quantity) as quantity,
        sum(extended_price) as extended_price,
        sum(discount_amount) as discount_amount,
        sum(net_revenue) as net_revenue,
        sum(supply_cost_amount) as supply_cost_amount,
        sum(gross_margin) as gross_margin,
        sum(
            case when return_flag <> 'N' then 1 else 0 end
        ) as settled_line_count,
        sum(case when is_returned then 1 else 0 end) as returned_line_count
    from order_lines
    group by part_key

),

joined as (

    select
        parts.part_key,
        parts.part_name,
        parts.manufacturer,
        parts.brand,
        parts.part_type,
        {{ dbt.split_part('parts.part_type', "' '", 1) }} as part_category,
        parts.container,
        parts.part_size,
        parts.retail_price,
        coalesce(part_sales.line_count, 0) as line_count,
        coalesce(part_sales.order_count, 0) as order_count,
        coalesce(part_sales.quantity, 0) as quantity,
        coalesce(part_sales.extended_price, 0) as extended_price,
        coalesce(part_sales.discount_amount, 0) as discount_amount,
        coalesce(part_sales.net_revenue, 0) as net_revenue,
        coalesce(part_sales.supply_cost_amount, 0) as supply_cost_amount,
        coalesce(part_sales.gross_margin, 0) as gross_margin,
        coalesce(part_sales.settled_line_count, 0) as settled_line_count,
        coalesce(part_sales.returned_line_count, 0) as returned_line_count
    from parts
    left join part_sales
        on parts.part_key = part_sales.part_key

),

final as (

    select
        part_key,
        part_name,
        manufacturer,
        brand,
        part_type,
        part_category,
        container,
        part_size,
        retail_price,
        line_count,
        order_count,
        quantity,
        extended_price,
        discount_amount,
        net_revenue,
        supply_cost_amount,
        gross_margin,
        {{ ratio('gross_margin', 'net_revenue') }} as margin_rate,
        settled_line_count,
        returned_line_count,
        {{ ratio('returned_line_count', 'settled_line_count') }}
            as return_rate,
        row_number() over (
            order by net_revenue desc nulls last, part_key asc
        ) as revenue_rank,
        row_number() over (
            order by gross_margin desc nulls last, part_key asc
        ) as margin_rank,
        line_count > 0 as has_sales
    from joined

)

select * from final
