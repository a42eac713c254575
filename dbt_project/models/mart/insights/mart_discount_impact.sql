{#
    BQ04: what discounting does to profitability. One row per discount
    level (TPC-H discounts are 0.00 to 0.10 in steps of 0.01): the money
    given away, the margin left, and whether deeper discounts sell more
    units per line.
#}

with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

by_discount as (

    select
        discount,
        count(*) as line_count,
        sum(quantity) as quantity,
        sum(extended_price) as extended_price,
        sum(discount_amount) as discount_amount,
        sum(net_revenue) as net_revenue,
        sum(supply_cost_amount) as supply_cost_amount,
        sum(gross_margin) as gross_margin,
        sum(case when gross_margin < 0 then 1 else 0 end)
            as below_cost_line_count
    from order_lines
    group by discount

),

final as (

    select
        discount,
        line_count,
        quantity,
        extended_price,
        discount_amount,
        net_revenue,
        supply_cost_amount,
        gross_margin,
        extended_price - supply_cost_amount as undiscounted_margin,
        below_cost_line_count,
        {{ ratio('quantity', 'line_count', 2) }} as avg_quantity_per_line,
        {{ ratio('gross_margin', 'net_revenue') }} as margin_rate,
        {{ ratio('extended_price - supply_cost_amount', 'extended_price') }}
            as undiscounted_margin_rate,
        {{ ratio('discount_amount', 'extended_price - supply_cost_amount') }}
            as margin_given_up_rate,
        {{ ratio('line_count', 'sum(line_count) over ()') }} as line_share,
        {{ ratio('discount_amount', 'sum(discount_amount) over ()') }}
            as discount_amount_share
    from by_discount

)

select * from final
