{#
    BQ12: how customer preferences vary by geography. One row per customer
    nation and part category (the first word of the TPC-H part type:
    ECONOMY, LARGE, MEDIUM, PROMO, SMALL, STANDARD). preference_index
    compares the category's share of the nation's revenue with its share
    of all revenue: 1.10 = the nation spends 10% more of its money on the
    category than customers overall.
#}

with

order_lines as (

    select * from {{ ref('int_order_lineitems') }}

),

customers as (

    select * from {{ ref('stg_dim_customer') }}

),

nations as (

    select * from {{ ref('stg_dim_nation') }}

),

regions as (

    select * from {{ ref('stg_dim_region') }}

),

parts as (

    select * from {{ ref('stg_dim_part') }}

),

categorised_lines as (

    select
        customers.nation_key,
        {{ dbt.split_part('parts.part_type', "' '", 1) }} as part_category,
        order_lines.order_key,
        order_lines.quantity,
        order_lines.net_revenue
    from order_lines
    inner join customers
        on order_lines.customer_key = customers.customer_key
    inner join parts
        on order_lines.part_key = parts.part_key

),

cells as (

    select
        nation_key,
        part_category,
        count(*) as line_count,
        count(distinct order_key) as order_count,
        sum(quantity) as quantity,
        sum(net_revenue) as net_revenue
    from categorised_lines
    group by nation_key, part_category

),

shares as (

    select
        nation_key,
        part_category,
        line_count,
        order_count,
        quantity,
        net_revenue,
        sum(net_revenue) over (partition by nation_key) as nation_net_revenue,
        sum(net_revenue) over (
            partition by part_category
        ) as category_net_revenue,
        sum(net_revenue) over () as total_net_revenue
    from cells

),

final as (

    select
        shares.nation_key,
        nations.region_key,
        nations.nation_name,
        regions.region_name,
        shares.part_category,
        shares.line_count,
        shares.order_count,
        shares.quantity,
        shares.net_revenue,
        {{ ratio('shares.net_revenue', 'shares.nation_net_revenue') }}
            as nation_revenue_share,
        {{ ratio('shares.category_net_revenue', 'shares.total_net_revenue') }}
            as overall_revenue_share,
        {{ ratio(
            'shares.net_revenue * 1.0 / shares.nation_net_revenue',
            'shares.category_net_revenue * 1.0 / shares.total_net_revenue'
        ) }} as preference_index
    from shares
    inner join nations
        on shares.nation_key = nations.nation_key
    inner join regions
        on nations.region_key = regions.region_key

)

select * from final
