{#
    expect_column_distinct_count_to_be_between (Great Expectations /
    dbt-expectations): fails when the number of distinct non-null values of
    the column lies outside [min_value, max_value] (either bound may be
    omitted; open with `strictly: true`). `row_condition` filters the rows
    first. Returns the distinct count when it fails.

        columns:
          - name: nation_key
            data_tests:
              - expect_column_distinct_count_to_be_between:
                  arguments: {min_value: 25, max_value: 25}
#}
{% test expect_column_distinct_count_to_be_between(
    model, column_name, min_value=none, max_value=none, row_condition=none, strictly=false
) %}

    with

    distinct_values as (

        select count(distinct {{ column_name }}) as distinct_count
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}

    )

    select distinct_count
    from distinct_values
    where {{ expectation_outside_bounds('distinct_count', min_value, max_value, strictly) }}

{% endtest %}
