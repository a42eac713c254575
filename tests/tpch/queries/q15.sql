-- TPC-H Q15: top supplier (DATE = 1996-01-01).
with

revenue as (

    select
        supplier_key,
        sum(net_revenue) as total_revenue
    from intermediate.int_order_lineitems
    where
        ship_date >= date '1996-01-01'
        and ship_date < date '1996-01-01' + interval 3 month
    group by supplier_key

)

select
    suppliers.supplier_key as s_suppkey,
    suppliers.supplier_name as s_name,
    suppliers.supplier_address as s_address,
    suppliers.phone_number as s_phone,
    revenue.total_revenue
from staging.stg_dim_supplier as suppliers
inner join revenue
    on suppliers.supplier_key = revenue.supplier_key
where revenue.total_revenue = (select max(total_revenue) from revenue)
order by s_suppkey
