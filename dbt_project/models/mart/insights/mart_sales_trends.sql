{#
    BQ03 (seasonal trends in orders and profitability) and BQ13 (peak
    ordering periods and the resources they need). Seasons are
    meteorological, northern hemisphere (TPC-H has no hemisphere).
    "Complete" months end on or before the data's last order date.
#}

with

orders as (

    select * from {{ ref('mart_orders') }}

),

daily_orders as (

    select
        order_date,
        count(*) as order_count,
        sum(line_count) as line_count
    from orders
    group by order_date

),

daily_peaks as (

    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as date)
            as order_month,
        count(*) as active_days,
        max(order_count) as peak_day_order_count,
        max(line_count) as peak_day_line_count
    from daily_orders
    group by order_month

),

monthly_orders as (

    select
        cast({{ dbt.date_trunc('month', 'order_date') }} as date)
            as order_month,
        count(*) as order_count,
        sum(line_count) as line_count,
        sum(total_quantity) as quantity,
        count(distinct customer_key) as customer_count,
        count(distinct clerk_name) as active_clerk_count,
        sum(net_revenue) as net_revenue,
        sum(gross_revenue) as gross_revenue,
        sum(discount_amount) as discount_amount,
        sum(supply_cost_amount) as supply_cost_amount,
        sum(gross_margin) as gross_margin,
        sum(late_line_count) as late_line_count
    from orders
    group by order_month

),

data_window as (

    select max(order_date) as as_of_date
    from orders

),

calendar as (

    select
        monthly_orders.*,
        daily_peaks.active_days,
        daily_peaks.peak_day_order_count,
        daily_peaks.peak_day_line_count,
        cast(extract(year from monthly_orders.order_month) as integer)
            as order_year,
        cast(extract(month from monthly_orders.order_month) as integer)
            as month_of_year,
        cast(extract(quarter from monthly_orders.order_month) as integer)
            as order_quarter,
        {{ days_between(
            'monthly_orders.order_month',
            dbt.dateadd('month', 1, 'monthly_orders.order_month')
        ) }} as days_in_month,
        cast(
            {{ dbt.last_day('monthly_orders.order_month', 'month') }}
            as date
        ) <= data_window.as_of_date as is_complete_month,
        data_window.as_of_date
    from monthly_orders
    inner join daily_peaks
        on monthly_orders.order_month = daily_peaks.order_month
    cross join data_window

),

final as (

    select
        order_month,
        order_year,
        order_quarter,
        month_of_year,
        case
            when month_of_year in (12, 1, 2) then 'Winter'
            when month_of_year in (3, 4, 5) then 'Spring'
            when month_of_year in (6, 7, 8) then 'Summer'
            else 'Autumn'
        end as season,
        order_count,
        line_count,
        quantity,
        customer_count,
        active_clerk_count,
        net_revenue,
        gross_revenue,
        discount_amount,
        supply_cost_amount,
        gross_margin,
        late_line_count,
        {{ ratio('gross_margin', 'net_revenue') }} as margin_rate,
        {{ ratio('net_revenue', 'order_count', 2) }} as avg_order_value,
        days_in_month,
        active_days,
        {{ ratio('order_count', 'days_in_month', 2) }} as orders_per_day,
        {{ ratio('line_count', 'days_in_month', 2) }} as lines_per_day,
        {{ ratio('quantity', 'days_in_month', 2) }} as units_per_day,
        peak_day_order_count,
        peak_day_line_count,
        {{ ratio('order_count', 'active_clerk_count', 2) }}
            as orders_per_clerk,
        is_complete_month,
        as_of_date
    from calendar

)

select * from final
