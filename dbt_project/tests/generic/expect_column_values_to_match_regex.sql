{#
    expect_column_values_to_match_regex (Great Expectations /
    dbt-expectations): fails for every non-null value in which the regular
    expression `regex` finds no match. A match may be anywhere in the value,
    as in both packages: anchor the pattern (^...$) to judge the whole
    value. `flags`: 'i' case-insensitive, 'c' case-sensitive (default),
    'm' multi-line, 's' dot matches newline. Write the pattern as the regex
    engine reads it (RE2 on DuckDB, POSIX with Perl classes such as \d on
    Snowflake; keep to what both read); the macro quotes it for each
    warehouse. `row_condition` filters the rows first. Returns the failing
    rows, so `warn_if`/`error_if` can grade by how many.

        columns:
          - name: clerk_name
            data_tests:
              - expect_column_values_to_match_regex:
                  arguments:
                    regex: '^Clerk#\d{9}$'
#}
{% test expect_column_values_to_match_regex(model, column_name, regex, flags='', row_condition=none) %}

    select *
    from {{ model }}
    where {{ column_name }} is not null
        and not ({{ expectation_regex_search(column_name, regex, flags) }})
        {%- if row_condition %}
        and ({{ row_condition }})
        {%- endif %}

{% endtest %}
