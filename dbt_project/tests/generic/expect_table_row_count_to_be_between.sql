{#
    expect_table_row_count_to_be_between (Great Expectations /
    dbt-expectations): fails when the model's row count lies outside
    [min_value, max_value] (either bound may be omitted; open with
    `strictly: true`). With `group_by`, the count of every group is judged
    and each group outside the bounds is one failing row (a group with no
    rows at all is not seen: count the groups with
    expect_column_distinct_count_to_be_between). `row_condition` filters
    the rows first. Returns the failing counts.

        data_tests:
          - expect_table_row_count_to_be_between:
              arguments:
                min_value: 5
                max_value: 5
                group_by: [region_key]    # five nations in every region
#}
{% test expect_table_row_count_to_be_between(
    model, min_value=none, max_value=none, group_by=none, row_condition=none, strictly=false
) %}

    {%- set groups = [group_by] if group_by is string else (group_by or []) %}

    with

    row_counts as (

        select
            {%- for column in groups %}
            {{ column }},
            {%- endfor %}
            count(*) as row_count
        from {{ model }}
        {%- if row_condition %}
        where {{ row_condition }}
        {%- endif %}
        {%- if groups %}
        group by {{ groups | join(', ') }}
        {%- endif %}

    )

    select *
    from row_counts
    where {{ expectation_outside_bounds('row_count', min_value, max_value, strictly) }}

{% endtest %}
