{#
    Proves every order's total_price is exactly (to the cent) the sum of its
    lines' charges as dbgen computed them (`dbgen_line_charge`: truncated
    after discount, then after tax). Returns the orders that do not
    reconcile, including orders without lines. On incremental builds it
    checks the orders of the new batches only (see batch_scope).
#}

{%- set scope = batch_scope(ref('stg_fct_orders')) | trim %}

with

orders as (

    select * from {{ ref('stg_fct_orders') }}
    {% if scope %}where {{ scope }}{% endif %}

),

lineitems as (

    select * from {{ ref('stg_fct_lineitem') }}
    {% if scope %}
        where order_key in (select order_key from orders)
    {% endif %}

),

line_charges as (

    select
        order_key,
        count(*) as line_count,
        sum(
            {{ dbgen_line_charge('extended_price', 'discount', 'tax') }}
        ) as charged_total
    from lineitems
    group by order_key

),

final as (

    select
        orders.order_key,
        orders.total_price,
        line_charges.charged_total,
        line_charges.line_count
    from orders
    left join line_charges
        on orders.order_key = line_charges.order_key
    where
        line_charges.order_key is null
        or orders.total_price <> line_charges.charged_total

)

select * from final
