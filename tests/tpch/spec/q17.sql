-- TPC-H Q17 as the specification writes it (2.4.17), on the raw tables tpch-elt loaded.
select sum(l_extendedprice) / 7.0 as avg_yearly
from raw.lineitem, raw.part
where
    p_partkey = l_partkey
    and p_brand = 'Brand#23'
    and p_container = 'MED BOX'
    and l_quantity < (
        select 0.2 * avg(l_quantity)
        from raw.lineitem
        where l_partkey = p_partkey
    )
