with

source as (

    select * from {{ source('tpch', 'region') }}

),

renamed as (

    select
        cast(r_regionkey as integer) as region_key,
        cast(r_name as varchar) as region_name,
        cast(r_comment as varchar) as region_comment,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
