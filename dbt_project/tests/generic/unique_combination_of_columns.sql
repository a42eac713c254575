{#
    unique_combination_of_columns: fails for every combination of
    `combination_of_columns` that occurs more than once in the model.
    Use it for composite primary keys (the hub package's test of the same
    name cannot be fetched here).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [order_key, line_number]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    {%- set columns_csv = combination_of_columns | join(', ') %}

    select
        {{ columns_csv }},
        count(*) as n_records
    from {{ model }}
    group by {{ columns_csv }}
    having count(*) > 1

{% endtest %}
