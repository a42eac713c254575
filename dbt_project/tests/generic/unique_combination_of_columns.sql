{#
    unique_combination_of_columns: fails for every combination of
    `combination_of_columns` that occurs more than once in the model.
    Use it for composite primary keys (the hub package's test of the same
    name cannot be fetched here). Nulls in any key column are ignored, as
    dbt's `unique` ignores them. On incremental builds only new keys are
    checked, against the whole table (macros/unique_keys_sql.sql).

        data_tests:
          - unique_combination_of_columns:
              arguments:
                combination_of_columns: [order_key, line_number]
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {{ unique_keys_sql(model, combination_of_columns) }}
{% endtest %}
