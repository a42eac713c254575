with

source as (

    select * from {{ source('tpch', 'nation') }}

),

renamed as (

    select
        cast(n_nationkey as integer) as nation_key,
        cast(n_regionkey as integer) as region_key,
        cast(n_name as varchar) as nation_name,
        cast(n_comment as varchar) as nation_comment,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
