{#
    Proves mart_order_anomalies flags exactly the orders its rules select
    in mart_orders, no more and no fewer, and copies their values
    faithfully. The expected flags are recomputed here straight from
    mart_orders (window functions instead of the mart's joins). Returns
    one row per anomaly type whose flagged count differs, and one per
    flagged row whose customer or net revenue differs from mart_orders.
#}

with

anomalies as (

    select * from {{ ref('mart_order_anomalies') }}

),

orders as (

    select * from {{ ref('mart_orders') }}

),

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

order_scores as (

    select
        orders.order_key,
        orders.gross_margin,
        customers.account_balance,
        count(*) over (
            partition by orders.customer_key, orders.order_date
        ) as same_day_order_count,
        cast(
            (orders.net_revenue - avg(orders.net_revenue * 1.0) over ())
            / nullif(stddev_samp(orders.net_revenue * 1.0) over (), 0)
            as decimal(18, 2)
        ) as order_value_zscore
    from orders
    inner join customers
        on orders.customer_key = customers.customer_key

),

expected_counts as (

    select
        'order_value_outlier' as anomaly_type,
        sum(
            case
                when order_value_zscore
                    > {{ var('anomaly_order_value_zscore') }}
                    then 1
                else 0
            end
        ) as expected_count
    from order_scores

    union all

    select
        'large_order_negative_balance' as anomaly_type,
        sum(
            case
                when account_balance < 0
                    and order_value_zscore
                    > {{ var('anomaly_debtor_order_value_zscore') }}
                    then 1
                else 0
            end
        ) as expected_count
    from order_scores

    union all

    select
        'same_day_repeat_order' as anomaly_type,
        sum(
            case
                when same_day_order_count
                    >= {{ var('anomaly_same_day_order_count') }}
                    then 1
                else 0
            end
        ) as expected_count
    from order_scores

    union all

    select
        'below_cost_order' as anomaly_type,
        sum(case when gross_margin < 0 then 1 else 0 end) as expected_count
    from order_scores

),

actual_counts as (

    select
        anomaly_type,
        count(*) as actual_count
    from anomalies
    group by anomaly_type

),

count_mismatches as (

    select
        expected_counts.anomaly_type,
        cast(null as bigint) as order_key,
        expected_counts.expected_count,
        coalesce(actual_counts.actual_count, 0) as actual_count
    from expected_counts
    left join actual_counts
        on expected_counts.anomaly_type = actual_counts.anomaly_type
    where expected_counts.expected_count
        <> coalesce(actual_counts.actual_count, 0)

),

value_mismatches as (

    select
        anomalies.anomaly_type,
        anomalies.order_key,
        cast(null as bigint) as expected_count,
        cast(null as bigint) as actual_count
    from anomalies
    left join orders
        on anomalies.order_key = orders.order_key
    where
        orders.order_key is null
        or anomalies.customer_key <> orders.customer_key
        or anomalies.net_revenue <> orders.net_revenue

),

final as (

    select * from count_mismatches
    union all
    select * from value_mismatches

)

select * from final
