-- TPC-H Q2: minimum cost supplier (SIZE = 15, TYPE = '%BRASS', REGION = 'EUROPE').
with

region_offers as (

    select
        partsupp.part_key,
        partsupp.supplier_key,
        partsupp.supply_cost,
        nations.nation_name
    from staging.stg_fct_partsupp as partsupp
    inner join staging.stg_dim_supplier as suppliers
        on partsupp.supplier_key = suppliers.supplier_key
    inner join staging.stg_dim_nation as nations
        on suppliers.nation_key = nations.nation_key
    inner join staging.stg_dim_region as regions
        on nations.region_key = regions.region_key
    where regions.region_name = 'EUROPE'

),

cheapest_offers as (

    select
        *,
        min(supply_cost) over (partition by part_key) as min_supply_cost
    from region_offers

)

select
    suppliers.account_balance as s_acctbal,
    suppliers.supplier_name as s_name,
    cheapest_offers.nation_name as n_name,
    parts.part_key as p_partkey,
    parts.manufacturer as p_mfgr,
    suppliers.supplier_address as s_address,
    suppliers.phone_number as s_phone,
    suppliers.supplier_comment as s_comment
from cheapest_offers
inner join staging.stg_dim_part as parts
    on cheapest_offers.part_key = parts.part_key
inner join staging.stg_dim_supplier as suppliers
    on cheapest_offers.supplier_key = suppliers.supplier_key
where
    cheapest_offers.supply_cost = cheapest_offers.min_supply_cost
    and parts.part_size = 15
    and parts.part_type like '%BRASS'
order by s_acctbal desc, n_name, s_name, p_partkey
limit 100
