with

source as (

    select * from {{ source('tpch', 'partsupp') }}

),

renamed as (

    select
        cast(ps_partkey as bigint) as part_key,
        cast(ps_suppkey as bigint) as supplier_key,
        cast(ps_comment as varchar) as partsupp_comment,
        cast(ps_availqty as integer) as available_quantity,
        {{ money('ps_supplycost') }} as supply_cost,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
