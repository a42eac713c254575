{#
    Physical layout of a table model, per warehouse. Dispatched:

    DuckDB (default__): `order by <columns>`. DuckDB keeps min/max
    statistics per row group, so a table written in this order lets range
    filters (an order-date range, an order-key lookup) skip whole row
    groups.

    Snowflake: nothing. The model's `cluster_by` config does this job there:
    dbt-snowflake sorts by the clustering key when it creates the table and
    Snowflake keeps micro-partitions clustered on it. An ORDER BY inside the
    model would add a full sort of the table to every build and would not
    be guaranteed to survive into the table anyway.

    Use it as the last clause of the model's final CTE:

        select * from renamed
        {{ layout_order_by(['order_key', 'line_number']) }}
#}
{% macro layout_order_by(columns) -%}
    {{ return(adapter.dispatch('layout_order_by', 'tpch_elt')(columns)) }}
{%- endmacro %}

{% macro default__layout_order_by(columns) -%}
    order by {{ columns | join(', ') }}
{%- endmacro %}

{% macro snowflake__layout_order_by(columns) -%}
    {#- clustered by the model's cluster_by config instead -#}
{%- endmacro %}
