-- TPC-H Q21: suppliers who kept orders waiting (NATION = 'SAUDI ARABIA').
select
    suppliers.supplier_name as s_name,
    count(*) as numwait
from intermediate.int_order_lineitems as l1
inner join staging.stg_dim_supplier as suppliers
    on l1.supplier_key = suppliers.supplier_key
inner join staging.stg_dim_nation as nations
    on suppliers.nation_key = nations.nation_key
where
    nations.nation_name = 'SAUDI ARABIA'
    and l1.order_status = 'F'
    and l1.is_late
    and exists (
        select 1
        from intermediate.int_order_lineitems as l2
        where
            l2.order_key = l1.order_key
            and l2.supplier_key <> l1.supplier_key
    )
    and not exists (
        select 1
        from intermediate.int_order_lineitems as l3
        where
            l3.order_key = l1.order_key
            and l3.supplier_key <> l1.supplier_key
            and l3.is_late
    )
group by suppliers.supplier_name
order by numwait desc, s_name
limit 100
