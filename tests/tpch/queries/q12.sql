-- TPC-H Q12: shipping modes and order priority
-- (SHIPMODE1 = 'MAIL', SHIPMODE2 = 'SHIP', DATE = 1994-01-01).
select
    ship_mode as l_shipmode,
    sum(case when order_priority in ('1-URGENT', '2-HIGH') then 1 else 0 end) as high_line_count,
    sum(case when order_priority not in ('1-URGENT', '2-HIGH') then 1 else 0 end) as low_line_count
from intermediate.int_order_lineitems
where
    ship_mode in ('MAIL', 'SHIP')
    and is_late
    and ship_date < commit_date
    and receipt_date >= date '1994-01-01'
    and receipt_date < date '1994-01-01' + interval 1 year
group by ship_mode
order by l_shipmode
