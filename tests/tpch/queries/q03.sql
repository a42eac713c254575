-- TPC-H Q3: shipping priority (SEGMENT = 'BUILDING', DATE = 1995-03-15).
select
    lines.order_key as l_orderkey,
    sum(lines.net_revenue) as revenue,
    orders.order_date as o_orderdate,
    orders.ship_priority as o_shippriority
from intermediate.int_order_lineitems as lines
inner join mart.mart_orders as orders
    on lines.order_key = orders.order_key
where
    orders.market_segment = 'BUILDING'
    and orders.order_date < date '1995-03-15'
    and lines.ship_date > date '1995-03-15'
group by lines.order_key, orders.order_date, orders.ship_priority
order by revenue desc, o_orderdate
limit 10
