-- TPC-H Q6: forecasting revenue change (DATE = 1994-01-01, DISCOUNT = 0.06, QUANTITY = 24).
-- discount_amount = extended_price * discount.
select sum(discount_amount) as revenue
from intermediate.int_order_lineitems
where
    ship_date >= date '1994-01-01'
    and ship_date < date '1994-01-01' + interval 1 year
    and discount between 0.06 - 0.01 and 0.06 + 0.01
    and quantity < 24
