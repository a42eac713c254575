with

source as (

    select * from {{ source('tpch', 'part') }}

),

renamed as (

    select
        cast(p_partkey as bigint) as part_key,
        cast(p_name as varchar) as part_name,
        cast(p_mfgr as varchar) as manufacturer,
        cast(p_brand as varchar) as brand,
        cast(p_type as varchar) as part_type,
        cast(p_container as varchar) as container,
        cast(p_comment as varchar) as part_comment,
        cast(p_size as integer) as part_size,
        {{ money('p_retailprice') }} as retail_price,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
