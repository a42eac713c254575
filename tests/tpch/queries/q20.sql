-- TPC-H Q20: potential part promotion (COLOR = 'forest', DATE = 1994-01-01, NATION = 'CANADA').
with

shipped_1994 as (

    select
        part_key,
        supplier_key,
        sum(quantity) as shipped_quantity
    from intermediate.int_order_lineitems
    where
        ship_date >= date '1994-01-01'
        and ship_date < date '1994-01-01' + interval 1 year
    group by part_key, supplier_key

),

excess_stock as (

    select distinct partsupp.supplier_key
    from staging.stg_fct_partsupp as partsupp
    inner join staging.stg_dim_part as parts
        on partsupp.part_key = parts.part_key
    inner join shipped_1994
        on
            partsupp.part_key = shipped_1994.part_key
            and partsupp.supplier_key = shipped_1994.supplier_key
    where
        parts.part_name like 'forest%'
        and partsupp.available_quantity > 0.5 * shipped_1994.shipped_quantity

)

select
    suppliers.supplier_name as s_name,
    suppliers.supplier_address as s_address
from staging.stg_dim_supplier as suppliers
inner join staging.stg_dim_nation as nations
    on suppliers.nation_key = nations.nation_key
where
    nations.nation_name = 'CANADA'
    and suppliers.supplier_key in (select supplier_key from excess_stock)
order by s_name
