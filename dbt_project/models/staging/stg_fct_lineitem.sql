{#
    A view, as staging is: the lines are stored once, in raw. The first
    table that keeps them, int_order_lineitems, reads only new batches
    through it (its `_batch_id` filter reaches the scan of raw).
#}

with

source as (

    select * from {{ source('tpch', 'lineitem') }}

),

renamed as (

    select
        cast(l_orderkey as bigint) as order_key,
        cast(l_linenumber as integer) as line_number,
        cast(l_partkey as bigint) as part_key,
        cast(l_suppkey as bigint) as supplier_key,
        cast(l_returnflag as varchar) as return_flag,
        cast(l_linestatus as varchar) as line_status,
        cast(l_shipinstruct as varchar) as ship_instructions,
        cast(l_shipmode as varchar) as ship_mode,
        cast(l_comment as varchar) as line_comment,
        {{ money('l_quantity') }} as quantity,
        {{ money('l_extendedprice') }} as extended_price,
        {{ money('l_discount') }} as discount,
        {{ money('l_tax') }} as tax,
        cast(l_shipdate as date) as ship_date,
        cast(l_commitdate as date) as commit_date,
        cast(l_receiptdate as date) as receipt_date,
        {{ load_metadata_columns() }}
    from source

),

final as (

    select * from renamed

)

select * from final
