{#
    BQ02 (which segments have the highest lifetime value) and BQ09 (key
    segments by purchasing behaviour). Additive measures per market segment
    and RFM segment, so the report can roll up either way exactly.
#}

with

customer_summary as (

    select * from {{ ref('mart_customer_summary') }}

),

segment_totals as (

    select
        market_segment,
        rfm_segment,
        count(*) as customer_count,
        sum(case when has_orders then 1 else 0 end) as ordering_customer_count,
        sum(order_count) as order_count,
        sum(lifetime_value) as lifetime_value,
        sum(coalesce(recency_days, 0)) as total_recency_days,
        sum(case when is_churn_risk then 1 else 0 end)
            as churn_risk_customer_count
    from customer_summary
    group by market_segment, rfm_segment

),

final as (

    select
        market_segment,
        rfm_segment,
        customer_count,
        ordering_customer_count,
        order_count,
        lifetime_value,
        total_recency_days,
        churn_risk_customer_count,
        {{ ratio('lifetime_value', 'ordering_customer_count', 2) }}
            as avg_lifetime_value,
        {{ ratio('lifetime_value', 'order_count', 2) }} as avg_order_value,
        {{ ratio('order_count', 'ordering_customer_count', 2) }}
            as orders_per_customer,
        {{ ratio('total_recency_days', 'ordering_customer_count', 1) }}
            as avg_recency_days,
        {{ ratio('customer_count', 'sum(customer_count) over ()') }}
            as customer_share,
        {{ ratio('lifetime_value', 'sum(lifetime_value) over ()') }}
            as lifetime_value_share
    from segment_totals

)

select * from final
