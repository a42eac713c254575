{#
    expression_is_true: fails for every row where the boolean `expression`
    is not true (false or null). Applied to a column, the expression is
    prefixed with the column name, e.g. `expression: ">= ship_date"`.
#}
{% test expression_is_true(model, expression, column_name=none) %}

    select *
    from {{ model }}
    {% if column_name is none %}
    where not coalesce(({{ expression }}), false)
    {% else %}
    where not coalesce(({{ column_name }} {{ expression }}), false)
    {% endif %}

{% endtest %}
