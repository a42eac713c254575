{#
    expect_column_stdev_to_be_between (Great Expectations /
    dbt-expectations): fails when the sample standard deviation
    (stddev_samp, n - 1 in the denominator) of the column's non-null values
    lies outside [min_value, max_value] (either bound may be omitted; open
    with `strictly: true`). Computed in DOUBLE. Fewer than two values: no
    deviation, the test passes. `row_condition` filters the rows first.
    Returns the deviation when it fails.

        columns:
          - name: account_balance
            data_tests:
              - expect_column_stdev_to_be_between:
                  arguments: {min_value: 2900, max_value: 3450}
#}
{% test expect_column_stdev_to_be_between(
    model, column_name, min_value=none, max_value=none, row_condition=none, strictly=false
) %}

    with

    statistic as (

        select stddev_samp({{ expectation_double(column_name) }}) as column_stdev
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}

    )

    select column_stdev
    from statistic
    where {{ expectation_outside_bounds('column_stdev', min_value, max_value, strictly) }}

{% endtest %}
