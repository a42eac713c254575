{#
    BQ14: orders whose pattern suggests possible fraud or a data-quality
    issue. One row per flagged order and anomaly type; an order can carry
    several types. Thresholds are vars (anomaly_*). TPC-H labels no order
    as fraudulent, so these are signals to investigate, not verdicts.

    fraud signals:
      order_value_outlier          net revenue z-score above
                                   anomaly_order_value_zscore
      large_order_negative_balance customer in debt (account balance < 0)
                                   placing an order above
                                   anomaly_debtor_order_value_zscore
      same_day_repeat_order        the customer placed at least
                                   anomaly_same_day_order_count orders that day
      below_cost_order             the order sold for less than its supply cost
    data quality:
      order_status_mismatch        order status disagrees with its lines'
                                   statuses (F all shipped, O none, P some)
      line_number_gap              line numbers are not 1..line_count
#}

with

orders as (

    select * from {{ ref('mart_orders') }}

),

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

order_value_stats as (

    select
        avg(net_revenue * 1.0) as mean_net_revenue,
        stddev_samp(net_revenue * 1.0) as stddev_net_revenue
    from orders

),

same_day_orders as (

    select
        customer_key,
        order_date,
        count(*) as same_day_order_count
    from orders
    group by customer_key, order_date

),

line_facts as (

    select
        order_key,
        count(*) as line_count,
        max(line_number) as max_line_number,
        sum(case when line_status = 'F' then 1 else 0 end)
            as shipped_line_count
    from order_lines
    group by order_key

),

scored_orders as (

    select
        orders.order_key,
        orders.customer_key,
        orders.customer_name,
        orders.nation_name,
        orders.order_status,
        orders.net_revenue,
        orders.gross_margin,
        customers.account_balance,
        same_day_orders.same_day_order_count,
        line_facts.line_count,
        line_facts.max_line_number,
        line_facts.shipped_line_count,
        cast(
            (orders.net_revenue - order_value_stats.mean_net_revenue)
            / nullif(order_value_stats.stddev_net_revenue, 0)
            as decimal(18, 2)
        ) as order_value_zscore,
        orders.order_date
    from orders
    inner join customers
        on orders.customer_key = customers.customer_key
    inner join same_day_orders
        on
            orders.customer_key = same_day_orders.customer_key
            and orders.order_date = same_day_orders.order_date
    inner join line_facts
        on orders.order_key = line_facts.order_key
    cross join order_value_stats

),

flags as (

    select
        *,
        'order_value_outlier' as anomaly_type,
        'fraud signal' as anomaly_category
    from scored_orders
    where order_value_zscore > {{ var('anomaly_order_value_zscore') }}

    union all

    select
        *,
        'large_order_negative_balance' as anomaly_type,
        'fraud signal' as anomaly_category
    from scored_orders
    where
        account_balance < 0
        and order_value_zscore > {{ var('anomaly_debtor_order_value_zscore') }}

    union all

    select
        *,
        'same_day_repeat_order' as anomaly_type,
        'fraud signal' as anomaly_category
    from scored_orders
    where same_day_order_count >= {{ var('anomaly_same_day_order_count') }}

    union all

    select
        *,
        'below_cost_order' as anomaly_type,
        'fraud signal' as anomaly_category
    from scored_orders
    where gross_margin < 0

    union all

    select
        *,
        'order_status_mismatch' as anomaly_type,
        'data quality' as anomaly_category
    from scored_orders
    where
        not (
            (order_status = 'F' and shipped_line_count = line_count)
            or (order_status = 'O' and shipped_line_count = 0)
            or (
                order_status = 'P'
                and shipped_line_count > 0
                and shipped_line_count < line_count
            )
        )

    union all

    select
        *,
        'line_number_gap' as anomaly_type,
        'data quality' as anomaly_category
    from scored_orders
    where max_line_number <> line_count

),

final as (

    select
        order_key,
        customer_key,
        anomaly_type,
        anomaly_category,
        customer_name,
        nation_name,
        order_status,
        net_revenue,
        gross_margin,
        account_balance,
        order_value_zscore,
        same_day_order_count,
        line_count,
        order_date
    from flags

)

select * from final
