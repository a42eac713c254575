{#
    expect_column_values_to_not_be_null (Great Expectations, with its
    `mostly`): fails when fewer than `mostly` (0 to 1; default 1, every
    value) of the rows have a non-null value in the column. Use it on
    optional columns whose null share the data bounds: e.g. `mostly: 0.6`
    where about a third of the rows are null by design. No rows: passes.
    `row_condition` filters the rows first. Returns one row with the counts
    and the non-null share when it fails.

        columns:
          - name: avg_days_between_orders
            data_tests:
              - expect_column_values_to_not_be_null:
                  arguments: {mostly: 0.6}
#}
{% test expect_column_values_to_not_be_null(model, column_name, mostly=1, row_condition=none) %}

    {%- if not (0 <= mostly | float <= 1) %}
        {{ exceptions.raise_compiler_error("mostly must be between 0 and 1, not " ~ mostly) }}
    {%- endif %}

    with

    counts as (

        select
            count(*) as row_count,
            count({{ column_name }}) as non_null_count
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}

    )

    select
        row_count,
        non_null_count,
        {{ expectation_double('non_null_count') }} / row_count as non_null_share
    from counts
    where row_count > 0
        and non_null_count < {{ mostly | float }} * row_count

{% endtest %}
