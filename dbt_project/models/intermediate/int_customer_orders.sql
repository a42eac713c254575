{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='customer_key',
    )
}}

with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

{% if is_incremental() %}
touched_customers as (

    -- customers with lines from batches this table has not seen; each is
    -- re-aggregated from all of its lines, the rest are left as they are
    select distinct customer_key
    from order_lines
    where _batch_id > (
        select max(existing._batch_id) from {{ this }} as existing
    )

),
{% endif %}

customer_lines as (

    select * from order_lines
    {% if is_incremental() %}
        where customer_key in (select customer_key from touched_customers)
    {% endif %}

),

customer_totals as (

    select
        customer_key,
        count(distinct order_key) as order_count,
        count(*) as line_count,
        sum(net_revenue) as lifetime_value,
        sum(gross_revenue) as lifetime_gross_revenue,
        sum(quantity) as lifetime_quantity,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        max(_batch_id) as _batch_id
    from customer_lines
    group by customer_key

),

final as (

    select
        customer_key,
        order_count,
        line_count,
        lifetime_value,
        lifetime_gross_revenue,
        lifetime_quantity,
        cast(lifetime_value / order_count as decimal(18, 2))
            as average_order_value,
        case
            when order_count > 1
                then cast(
                    {{ days_between('first_order_date', 'last_order_date') }}
                    * 1.0 / (order_count - 1)
                    as decimal(10, 2)
                )
        end as avg_days_between_orders,
        first_order_date,
        last_order_date,
        _batch_id
    from customer_totals

)

select * from final
