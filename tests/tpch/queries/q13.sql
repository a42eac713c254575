-- TPC-H Q13: customer distribution (WORD1 = 'special', WORD2 = 'requests').
-- Needs customers without orders and the order comment, so it reads staging.
with

customer_order_counts as (

    select
        customers.customer_key,
        count(orders.order_key) as c_count
    from staging.stg_dim_customer as customers
    left join staging.stg_fct_orders as orders
        on
            customers.customer_key = orders.customer_key
            and orders.order_comment not like '%special%requests%'
    group by customers.customer_key

)

select
    c_count,
    count(*) as custdist
from customer_order_counts
group by c_count
order by custdist desc, c_count desc
