{#
    numerator / denominator as DECIMAL(18, scale), null when the denominator
    is 0 or null. The `* 1.0` keeps warehouses that truncate integer
    division from returning 0 for rates such as late_lines / lines.
#}
{% macro ratio(numerator, denominator, scale=4) -%}
    cast(
        ({{ numerator }}) * 1.0 / nullif({{ denominator }}, 0)
        as decimal(18, {{ scale }})
    )
{%- endmacro %}
