-- TPC-H Q18: large volume customer (QUANTITY = 300).
-- mart_orders.total_quantity is the order's sum(l_quantity).
select
    customer_name as c_name,
    customer_key as c_custkey,
    order_key as o_orderkey,
    order_date as o_orderdate,
    total_price as o_totalprice,
    total_quantity as "sum"
from mart.mart_orders
where total_quantity > 300
order by o_totalprice desc, o_orderdate
limit 100
