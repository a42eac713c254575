{#
    BQ15: how shipping methods affect satisfaction and costs. One row per
    ship mode. TPC-H has neither a satisfaction score nor a shipping cost.
    Satisfaction proxy: the share of settled lines (return outcome known,
    return_flag R or A) that arrived on time and were not returned. Cost
    proxy: the units each mode carries (freight scales with them) and how
    long they are in transit; no freight price exists to compare modes on.
#}

with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

mode_lines as (

    select
        ship_mode,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue,
        sum(transit_days) as total_transit_days,
        sum(
            {{ days_between('order_date', 'receipt_date') }}
        ) as total_lead_time_days,
        sum(days_late) as total_days_late,
        sum(case when is_late then 1 else 0 end) as late_line_count,
        sum(
            case when return_flag <> 'N' then 1 else 0 end
        ) as settled_line_count,
        sum(case when is_returned then 1 else 0 end) as returned_line_count,
        sum(
            case
                when return_flag <> 'N' and (is_late or is_returned) then 1
                else 0
            end
        ) as dissatisfied_line_count
    from order_lines
    group by ship_mode

),

final as (

    select
        ship_mode,
        line_count,
        quantity,
        net_revenue,
        late_line_count,
        settled_line_count,
        returned_line_count,
        dissatisfied_line_count,
        {{ ratio('line_count', 'sum(line_count) over ()') }} as line_share,
        {{ ratio('quantity', 'line_count', 2) }} as avg_quantity_per_line,
        {{ ratio('total_transit_days', 'line_count', 2) }}
            as avg_transit_days,
        {{ ratio('total_lead_time_days', 'line_count', 2) }}
            as avg_lead_time_days,
        {{ ratio('total_days_late', 'line_count', 2) }} as avg_days_late,
        {{ ratio('late_line_count', 'line_count') }} as late_rate,
        {{ ratio('returned_line_count', 'settled_line_count') }}
            as return_rate,
        cast(1 as decimal(18, 4)) - {{ ratio(
            'dissatisfied_line_count', 'settled_line_count'
        ) }} as satisfaction_proxy
    from mode_lines

)

select * from final
