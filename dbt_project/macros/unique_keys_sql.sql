{#
    Duplicate keys in `model` over `columns`, as the unique tests report
    them (one row per duplicated key with its count).

    On incremental builds of a batch-scoped model (see new_batches_filter)
    only the keys of the new batches are checked, but against the whole
    table: a new key that repeats an old one is caught, and the cost is a
    join of the new keys with the key columns instead of a group-by over
    all history. Otherwise every key is checked.
#}
{% macro unique_keys_sql(model, columns) %}
    {%- set scope = new_batches_filter(model) | trim -%}
    {%- set key_list = columns | join(', ') %}

    {%- if scope %}

    with

    new_keys as (

        select distinct {{ key_list }}
        from {{ model }}
        where {{ scope }}

    )

    select
        {%- for column in columns %}
        existing.{{ column }},
        {%- endfor %}
        count(*) as n_records
    from {{ model }} as existing
    inner join new_keys
        on
        {%- for column in columns %}
            {% if not loop.first %}and {% endif -%}
            existing.{{ column }} = new_keys.{{ column }}
        {%- endfor %}
    group by {% for column in columns -%}
        existing.{{ column }}{% if not loop.last %}, {% endif %}
    {%- endfor %}
    having count(*) > 1

    {%- else %}

    select
        {{ key_list }},
        count(*) as n_records
    from {{ model }}
    where
        {%- for column in columns %}
        {% if not loop.first %}and {% endif %}{{ column }} is not null
        {%- endfor %}
    group by {{ key_list }}
    having count(*) > 1

    {%- endif %}
{% endmacro %}

{#
    dbt's built-in `unique` test, routed through unique_keys_sql (this
    project's macros come first in the dispatch search order).
#}
{% macro default__test_unique(model, column_name) %}
    {{ unique_keys_sql(model, [column_name]) }}
{% endmacro %}
