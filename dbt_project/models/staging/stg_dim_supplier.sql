with

source as (

    select * from {{ source('tpch', 'supplier') }}

),

renamed as (

    select
        cast(s_suppkey as bigint) as supplier_key,
        cast(s_nationkey as integer) as nation_key,
        cast(s_name as varchar) as supplier_name,
        cast(s_address as varchar) as supplier_address,
        cast(s_phone as varchar) as phone_number,
        cast(s_comment as varchar) as supplier_comment,
        {{ money('s_acctbal') }} as account_balance,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
