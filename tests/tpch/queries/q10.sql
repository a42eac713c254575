-- TPC-H Q10: returned item reporting (DATE = 1993-10-01).
select
    orders.customer_key as c_custkey,
    orders.customer_name as c_name,
    sum(lines.net_revenue) as revenue,
    customers.account_balance as c_acctbal,
    orders.nation_name as n_name,
    customers.customer_address as c_address,
    customers.phone_number as c_phone,
    customers.customer_comment as c_comment
from intermediate.int_order_lineitems as lines
inner join mart.mart_orders as orders
    on lines.order_key = orders.order_key
inner join staging.stg_dim_customer as customers
    on orders.customer_key = customers.customer_key
where
    orders.order_date >= date '1993-10-01'
    and orders.order_date < date '1993-10-01' + interval 3 month
    and lines.return_flag = 'R'
group by
    orders.customer_key,
    orders.customer_name,
    customers.account_balance,
    customers.phone_number,
    orders.nation_name,
    customers.customer_address,
    customers.customer_comment
order by revenue desc
limit 20
