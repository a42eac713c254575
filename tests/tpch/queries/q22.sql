-- TPC-H Q22: global sales opportunity (I1..I7 = 13, 31, 23, 29, 30, 18, 17).
-- mart_customer_summary.has_orders answers "not exists (select * from orders ...)".
with

prospects as (

    select
        substring(customers.phone_number, 1, 2) as cntrycode,
        customers.account_balance,
        summary.has_orders
    from staging.stg_dim_customer as customers
    inner join mart.mart_customer_summary as summary
        on customers.customer_key = summary.customer_key
    where substring(customers.phone_number, 1, 2) in ('13', '31', '23', '29', '30', '18', '17')

)

select
    cntrycode,
    count(*) as numcust,
    sum(account_balance) as totacctbal
from prospects
where
    not has_orders
    and account_balance > (
        select avg(account_balance)
        from prospects
        where account_balance > 0.00
    )
group by cntrycode
order by cntrycode
