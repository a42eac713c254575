-- TPC-H Q19: discounted revenue
-- (QUANTITY1 = 1, QUANTITY2 = 10, QUANTITY3 = 20,
--  BRAND1 = 'Brand#12', BRAND2 = 'Brand#23', BRAND3 = 'Brand#34').
select sum(lines.net_revenue) as revenue
from intermediate.int_order_lineitems as lines
inner join staging.stg_dim_part as parts
    on lines.part_key = parts.part_key
where
    lines.ship_mode in ('AIR', 'AIR REG')
    and lines.ship_instructions = 'DELIVER IN PERSON'
    and (
        (
            parts.brand = 'Brand#12'
            and parts.container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
            and lines.quantity between 1 and 1 + 10
            and parts.part_size between 1 and 5
        )
        or (
            parts.brand = 'Brand#23'
            and parts.container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
            and lines.quantity between 10 and 10 + 10
            and parts.part_size between 1 and 10
        )
        or (
            parts.brand = 'Brand#34'
            and parts.container in ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
            and lines.quantity between 20 and 20 + 10
            and parts.part_size between 1 and 15
        )
    )
