-- TPC-H Q17: small-quantity-order revenue (BRAND = 'Brand#23', CONTAINER = 'MED BOX').
with

part_lines as (

    select
        lines.extended_price,
        lines.quantity,
        avg(lines.quantity) over (partition by lines.part_key) as avg_part_quantity
    from intermediate.int_order_lineitems as lines
    inner join staging.stg_dim_part as parts
        on lines.part_key = parts.part_key
    where
        parts.brand = 'Brand#23'
        and parts.container = 'MED BOX'

)

select sum(extended_price) / 7.0 as avg_yearly
from part_lines
where quantity < 0.2 * avg_part_quantity
