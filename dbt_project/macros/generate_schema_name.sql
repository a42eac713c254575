{#
    Schemas are named exactly `staging`, `intermediate` and `mart` (not
    `<target_schema>_staging`): reports, the Airflow DAG and users' queries
    address them by these names on every target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
