{#
    BQ16: the optimal inventory level per part and supplier, against the
    stock held (available_quantity). TPC-H has no ordering or holding cost,
    so no economic order quantity; the target is a periodic-review
    order-up-to level from observed demand and lead times:

      daily demand   = units shipped / days in the data window
      lead time      = days from order to receipt on this part-supplier's
                       lines (the supplier's average when it never
                       shipped the part)
      safety stock   = daily demand x (max lead time - avg lead time)
      reorder point  = daily demand x avg lead time + safety stock
      target level   = reorder point
                       + daily demand x `inventory_review_period_days`

    Stock above `inventory_excess_multiple` x the target is excess; below
    the reorder point is a stock-out risk.
#}

with

supplier_parts as (

    select * from {{ ref('int_supplier_parts') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

line_lead_times as (

    select
        part_key,
        supplier_key,
        {{ days_between('order_date', 'receipt_date') }} as lead_time_days
    from order_lines

),

pair_lead_times as (

    select
        part_key,
        supplier_key,
        avg(lead_time_days * 1.0) as avg_lead_time_days,
        max(lead_time_days) as max_lead_time_days
    from line_lead_times
    group by part_key, supplier_key

),

supplier_lead_times as (

    select
        supplier_key,
        avg(lead_time_days * 1.0) as avg_lead_time_days,
        max(lead_time_days) as max_lead_time_days
    from line_lead_times
    group by supplier_key

),

data_window as (

    select
        {{ days_between('min(order_date)', 'max(order_date)') }} + 1
            as window_days
    from order_lines

),

demand as (

    select
        supplier_parts.part_key,
        supplier_parts.supplier_key,
        supplier_parts.part_name,
        supplier_parts.available_quantity,
        supplier_parts.supply_cost,
        supplier_parts.inventory_value,
        supplier_parts.shipped_quantity,
        supplier_parts.shipped_quantity * 1.0 / data_window.window_days
            as daily_demand,
        coalesce(
            pair_lead_times.avg_lead_time_days,
            supplier_lead_times.avg_lead_time_days
        ) as avg_lead_time_days,
        coalesce(
            pair_lead_times.max_lead_time_days,
            supplier_lead_times.max_lead_time_days
        ) as max_lead_time_days
    from supplier_parts
    cross join data_window
    left join pair_lead_times
        on
            supplier_parts.part_key = pair_lead_times.part_key
            and supplier_parts.supplier_key = pair_lead_times.supplier_key
    left join supplier_lead_times
        on supplier_parts.supplier_key = supplier_lead_times.supplier_key

),

levels as (

    select
        *,
        cast(
            coalesce(
                daily_demand * (max_lead_time_days - avg_lead_time_days), 0
            ) as decimal(18, 2)
        ) as safety_stock,
        cast(
            coalesce(daily_demand * max_lead_time_days, 0) as decimal(18, 2)
        ) as reorder_point,
        cast(
            coalesce(
                daily_demand * (
                    max_lead_time_days
                    + {{ var('inventory_review_period_days') }}
                ),
                0
            ) as decimal(18, 2)
        ) as target_stock_level
    from demand

),

final as (

    select
        part_key,
        supplier_key,
        part_name,
        case
            when shipped_quantity = 0 then 'no demand'
            when available_quantity < reorder_point then 'stock-out risk'
            when
                available_quantity
                > {{ var('inventory_excess_multiple') }} * target_stock_level
                then 'excess'
            else 'healthy'
        end as stock_status,
        available_quantity,
        shipped_quantity,
        cast(daily_demand * 365.25 as decimal(18, 2)) as annual_demand,
        cast(avg_lead_time_days as decimal(18, 2)) as avg_lead_time_days,
        max_lead_time_days,
        safety_stock,
        reorder_point,
        target_stock_level,
        cast(
            case
                when available_quantity > ceiling(target_stock_level)
                    then available_quantity - ceiling(target_stock_level)
                else 0
            end as integer
        ) as excess_quantity,
        {{ ratio('available_quantity', 'daily_demand', 1) }} as days_of_cover,
        supply_cost,
        inventory_value,
        supply_cost * cast(
            case
                when available_quantity > ceiling(target_stock_level)
                    then available_quantity - ceiling(target_stock_level)
                else 0
            end as integer
        ) as excess_value
    from levels

)

select * from final
