-- TPC-H Q4: order priority checking (DATE = 1993-07-01).
-- "exists a line received after its commit date" is mart_orders.has_late_lines.
select
    order_priority as o_orderpriority,
    count(*) as order_count
from mart.mart_orders
where
    order_date >= date '1993-07-01'
    and order_date < date '1993-07-01' + interval 3 month
    and has_late_lines
group by order_priority
order by o_orderpriority
