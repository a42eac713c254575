{#
    BQ10: customers at risk of churning, by order frequency. One row per
    frequency quintile of ordering customers (f_score 1 = fewest orders, 5 =
    most). A customer is at risk when the days since their last order
    exceed `churn_gap_multiplier` x their usual gap between orders (see
    mart_customer_summary.is_churn_risk), measured as of the data's last
    order date.
#}

with

customer_summary as (

    select * from {{ ref('mart_customer_summary') }}

),

ordering_customers as (

    select * from customer_summary
    where has_orders

),

bands as (

    select
        f_score as frequency_score,
        min(order_count) as min_order_count,
        max(order_count) as max_order_count,
        count(*) as customer_count,
        sum(case when is_churn_risk then 1 else 0 end)
            as churn_risk_customer_count,
        sum(lifetime_value) as lifetime_value,
        sum(
            case when is_churn_risk then lifetime_value else 0 end
        ) as churn_risk_lifetime_value,
        sum(recency_days) as total_recency_days,
        avg(avg_days_between_orders * 1.0) as avg_days_between_orders,
        max(as_of_date) as as_of_date
    from ordering_customers
    group by f_score

),

final as (

    select
        frequency_score,
        min_order_count,
        max_order_count,
        customer_count,
        churn_risk_customer_count,
        lifetime_value,
        churn_risk_lifetime_value,
        {{ ratio('churn_risk_customer_count', 'customer_count') }}
            as churn_risk_rate,
        {{ ratio('churn_risk_lifetime_value', 'lifetime_value') }}
            as churn_risk_value_share,
        {{ ratio('total_recency_days', 'customer_count', 1) }}
            as avg_recency_days,
        cast(avg_days_between_orders as decimal(18, 1))
            as avg_days_between_orders,
        as_of_date
    from bands

)

select * from final
