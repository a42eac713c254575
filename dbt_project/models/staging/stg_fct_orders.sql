{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        cluster_by=["date_trunc('year', order_date)"],
    )
}}

with

source as (

    select * from {{ source('tpch', 'orders') }}
    {% if is_incremental() %}
        -- only batches this table has not seen (the batch watermark)
        where {{ source_batch_id() }} > (
            select max(existing._batch_id) from {{ this }} as existing
        )
    {% endif %}

),

renamed as (

    select
        cast(o_orderkey as bigint) as order_key,
        cast(o_custkey as bigint) as customer_key,
        cast(o_orderstatus as varchar) as order_status,
        cast(o_orderpriority as varchar) as order_priority,
        cast(o_clerk as varchar) as clerk_name,
        cast(o_comment as varchar) as order_comment,
        cast(o_shippriority as integer) as ship_priority,
        {{ money('o_totalprice') }} as total_price,
        cast(o_orderdate as date) as order_date,
        {{ load_metadata_columns() }}
    from source

),

final as (

    -- laid out by order date: date-range scans skip whole row groups
    -- (clustered by order year on Snowflake instead)
    select * from renamed
    {{ layout_order_by(['order_date', 'order_key']) }}

)

select * from final
