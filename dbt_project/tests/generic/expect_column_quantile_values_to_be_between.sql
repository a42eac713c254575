{#
    expect_column_quantile_values_to_be_between (dbt-expectations' form of
    the Great Expectations test: one quantile per test): fails when the
    `quantile` (0 to 1, continuous: interpolated between the two nearest
    values, as quantile_cont / percentile_cont) of the column's non-null
    values lies outside [min_value, max_value] (either bound may be
    omitted; open with `strictly: true`). Numeric columns. `row_condition`
    filters the rows first. Returns the quantile's value when it fails.

        columns:
          - name: account_balance
            data_tests:
              - expect_column_quantile_values_to_be_between:
                  arguments: {quantile: 0.05, min_value: -750, max_value: -150}
#}
{% test expect_column_quantile_values_to_be_between(
    model, column_name, quantile, min_value=none, max_value=none, row_condition=none, strictly=false
) %}

    {%- if not (0 <= quantile | float <= 1) %}
        {{ exceptions.raise_compiler_error("quantile must be between 0 and 1, not " ~ quantile) }}
    {%- endif %}

    with

    statistic as (

        select
            {{ expectation_quantile(expectation_double(column_name), quantile | float) }}
                as quantile_value
        from {{ model }}
        where {{ column_name }} is not null
        {%- if row_condition %}
            and ({{ row_condition }})
        {%- endif %}

    )

    select
        {{ quantile | float }} as quantile_level,
        quantile_value
    from statistic
    where {{ expectation_outside_bounds('quantile_value', min_value, max_value, strictly) }}

{% endtest %}
