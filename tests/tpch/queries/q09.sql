-- TPC-H Q9: product type profit measure (COLOR = 'green').
-- gross_margin = extended_price * (1 - discount) - supply_cost * quantity.
select
    supplier_nations.nation_name as nation,
    lines.order_year as o_year,
    sum(lines.gross_margin) as sum_profit
from intermediate.int_order_lineitems as lines
inner join staging.stg_dim_part as parts
    on lines.part_key = parts.part_key
inner join staging.stg_dim_supplier as suppliers
    on lines.supplier_key = suppliers.supplier_key
inner join staging.stg_dim_nation as supplier_nations
    on suppliers.nation_key = supplier_nations.nation_key
where parts.part_name like '%green%'
group by supplier_nations.nation_name, lines.order_year
order by nation, o_year desc
