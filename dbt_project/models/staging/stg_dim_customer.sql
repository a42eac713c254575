with

source as (

    select * from {{ source('tpch', 'customer') }}

),

renamed as (

    select
        cast(c_custkey as bigint) as customer_key,
        cast(c_nationkey as integer) as nation_key,
        cast(c_name as varchar) as customer_name,
        cast(c_address as varchar) as customer_address,
        cast(c_phone as varchar) as phone_number,
        cast(c_mktsegment as varchar) as market_segment,
        cast(c_comment as varchar) as customer_comment,
        {{ money('c_acctbal') }} as account_balance,
        {{ load_metadata_columns() }}
    from source

)

select * from renamed
