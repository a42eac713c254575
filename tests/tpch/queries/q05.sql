-- TPC-H Q5: local supplier volume (REGION = 'ASIA', DATE = 1994-01-01).
select
    orders.nation_name as n_name,
    sum(lines.net_revenue) as revenue
from intermediate.int_order_lineitems as lines
inner join mart.mart_orders as orders
    on lines.order_key = orders.order_key
inner join staging.stg_dim_supplier as suppliers
    on
        lines.supplier_key = suppliers.supplier_key
        and orders.nation_key = suppliers.nation_key
where
    orders.region_name = 'ASIA'
    and orders.order_date >= date '1994-01-01'
    and orders.order_date < date '1994-01-01' + interval 1 year
group by orders.nation_name
order by revenue desc
