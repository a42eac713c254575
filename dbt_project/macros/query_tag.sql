{#
    Cost per model on Snowflake (README, "Cost per model"). dbt-snowflake
    calls `set_query_tag` when a model, test, seed or snapshot starts and
    `unset_query_tag` when it ends; this project's versions (found first:
    dbt_project.yml `dispatch`) tag every statement of the node with JSON:

        {"app": "tpch-elt", "invocation_id": ..., "unique_id": ..., "run": <profile query_tag>}

    so that QUERY_HISTORY attributes credits per model and per dbt run
    (src/tpch_elt/observability/snowflake_cost.py). The node's tag replaces
    the profile's session tag while it runs and the profile's tag comes back
    after, without `show parameters` (the profile's tag is known). Snowflake
    targets only: other adapters dispatch to dbt's own no-op.
#}

{% macro snowflake__set_query_tag() -%}
    {%- set tag = {
        'app': 'tpch-elt',
        'invocation_id': invocation_id,
        'unique_id': model.unique_id,
        'run': target.get('query_tag') or none,
    } -%}
    {% do run_query("alter session set query_tag = " ~ snowflake_string(tojson(tag))) %}
    {{ return(target.get('query_tag') or none) }}
{%- endmacro %}

{% macro snowflake__unset_query_tag(original_query_tag) -%}
    {% if original_query_tag %}
        {% do run_query("alter session set query_tag = " ~ snowflake_string(original_query_tag)) %}
    {% else %}
        {% do run_query("alter session unset query_tag") %}
    {% endif %}
{%- endmacro %}

{#- A Snowflake string literal: backslashes and quotes escaped. -#}
{% macro snowflake_string(value) -%}
    {{- "'" ~ (value | string | replace("\\", "\\\\") | replace("'", "\\'")) ~ "'" -}}
{%- endmacro %}
