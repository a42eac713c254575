-- TPC-H Q11: important stock identification (NATION = 'GERMANY', FRACTION = 0.0001).
with

german_stock as (

    select
        partsupp.part_key,
        partsupp.supply_cost * partsupp.available_quantity as stock_value
    from staging.stg_fct_partsupp as partsupp
    inner join staging.stg_dim_supplier as suppliers
        on partsupp.supplier_key = suppliers.supplier_key
    inner join staging.stg_dim_nation as nations
        on suppliers.nation_key = nations.nation_key
    where nations.nation_name = 'GERMANY'

)

select
    part_key as ps_partkey,
    sum(stock_value) as value
from german_stock
group by part_key
having sum(stock_value) > (select sum(stock_value) * 0.0001 from german_stock)
order by value desc
