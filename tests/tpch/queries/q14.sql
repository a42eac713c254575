-- TPC-H Q14: promotion effect (DATE = 1995-09-01).
select
    100.00 * sum(case when parts.part_type like 'PROMO%' then lines.net_revenue else 0 end)
    / sum(lines.net_revenue) as promo_revenue
from intermediate.int_order_lineitems as lines
inner join staging.stg_dim_part as parts
    on lines.part_key = parts.part_key
where
    lines.ship_date >= date '1995-09-01'
    and lines.ship_date < date '1995-09-01' + interval 1 month
