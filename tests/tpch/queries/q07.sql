-- TPC-H Q7: volume shipping (NATION1 = 'FRANCE', NATION2 = 'GERMANY').
with

shipping as (

    select
        supplier_nations.nation_name as supp_nation,
        orders.nation_name as cust_nation,
        extract(year from lines.ship_date) as l_year,
        lines.net_revenue as volume
    from intermediate.int_order_lineitems as lines
    inner join mart.mart_orders as orders
        on lines.order_key = orders.order_key
    inner join staging.stg_dim_supplier as suppliers
        on lines.supplier_key = suppliers.supplier_key
    inner join staging.stg_dim_nation as supplier_nations
        on suppliers.nation_key = supplier_nations.nation_key
    where
        (
            (supplier_nations.nation_name = 'FRANCE' and orders.nation_name = 'GERMANY')
            or (supplier_nations.nation_name = 'GERMANY' and orders.nation_name = 'FRANCE')
        )
        and lines.ship_date between date '1995-01-01' and date '1996-12-31'

)

select
    supp_nation,
    cust_nation,
    l_year,
    sum(volume) as revenue
from shipping
group by supp_nation, cust_nation, l_year
order by supp_nation, cust_nation, l_year
