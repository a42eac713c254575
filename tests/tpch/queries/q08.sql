-- TPC-H Q8: national market share
-- (NATION = 'BRAZIL', REGION = 'AMERICA', TYPE = 'ECONOMY ANODIZED STEEL').
with

all_nations as (

    select
        lines.order_year as o_year,
        lines.net_revenue as volume,
        supplier_nations.nation_name as nation
    from intermediate.int_order_lineitems as lines
    inner join mart.mart_orders as orders
        on lines.order_key = orders.order_key
    inner join staging.stg_dim_part as parts
        on lines.part_key = parts.part_key
    inner join staging.stg_dim_supplier as suppliers
        on lines.supplier_key = suppliers.supplier_key
    inner join staging.stg_dim_nation as supplier_nations
        on suppliers.nation_key = supplier_nations.nation_key
    where
        orders.region_name = 'AMERICA'
        and lines.order_date between date '1995-01-01' and date '1996-12-31'
        and parts.part_type = 'ECONOMY ANODIZED STEEL'

)

select
    o_year,
    sum(case when nation = 'BRAZIL' then volume else 0 end) / sum(volume) as mkt_share
from all_nations
group by o_year
order by o_year
