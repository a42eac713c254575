{#
    Whole days from `start_date` to `end_date` (positive when end is later),
    portable through dbt's cross-database datediff.
#}
{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') | trim }}
{%- endmacro %}
