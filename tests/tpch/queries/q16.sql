-- TPC-H Q16: parts/supplier relationship
-- (BRAND = 'Brand#45', TYPE = 'MEDIUM POLISHED', SIZES = 49, 14, 23, 45, 19, 3, 36, 9).
select
    parts.brand as p_brand,
    parts.part_type as p_type,
    parts.part_size as p_size,
    count(distinct partsupp.supplier_key) as supplier_cnt
from staging.stg_fct_partsupp as partsupp
inner join staging.stg_dim_part as parts
    on partsupp.part_key = parts.part_key
where
    parts.brand <> 'Brand#45'
    and parts.part_type not like 'MEDIUM POLISHED%'
    and parts.part_size in (49, 14, 23, 45, 19, 3, 36, 9)
    and partsupp.supplier_key not in (
        select supplier_key
        from staging.stg_dim_supplier
        where supplier_comment like '%Customer%Complaints%'
    )
group by parts.brand, parts.part_type, parts.part_size
order by supplier_cnt desc, p_brand, p_type, p_size
