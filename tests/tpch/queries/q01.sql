-- TPC-H Q1: pricing summary report (DELTA = 90 days).
select
    return_flag as l_returnflag,
    line_status as l_linestatus,
    sum(quantity) as sum_qty,
    sum(extended_price) as sum_base_price,
    sum(net_revenue) as sum_disc_price,
    sum(gross_revenue) as sum_charge,
    avg(quantity) as avg_qty,
    avg(extended_price) as avg_price,
    avg(discount) as avg_disc,
    count(*) as count_order
from intermediate.int_order_lineitems
where ship_date <= date '1998-12-01' - interval 90 day
group by return_flag, line_status
order by l_returnflag, l_linestatus
