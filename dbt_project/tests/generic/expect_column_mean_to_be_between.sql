{#
    expect_column_mean_to_be_between (Great Expectations /
    dbt-expectations): fails when the mean of the column's non-null values
    lies outside [min_value, max_value] (either bound may be omitted; open
    with `strictly: true`). Computed in DOUBLE. No non-null value: no mean,
    the test passes. `row_condition` filters the rows first. Returns the
    mean when it fails.

        columns:
          - name: line_count
            data_tests:
              - expect_column_mean_to_be_between:
                  arguments: {min_value: 3.75, max_value: 4.25}
#}
{% test expect_column_mean_to_be_between(
    model, column_name, min_value=none, max_value=none, row_condition=none, strictly=false
) %}

    with

    statistic as (

        select avg({{ expectation_double(column_name) }}) as column_mean
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}

    )

    select column_mean
    from statistic
    where {{ expectation_outside_bounds('column_mean', min_value, max_value, strictly) }}

{% endtest %}
