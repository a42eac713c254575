{#
    Helpers of the `expect_*` generic tests (tests/generic/expect_*.sql,
    README "Expectations"): what DuckDB and Snowflake spell differently,
    dispatched; the rest written once.
#}

{#
    `expression` as a DOUBLE: statistics (mean, stdev, quantiles, KL shares)
    are computed in floating point on both warehouses. (`double` is a type
    name on DuckDB and Snowflake alike; dbt.type_float() is DuckDB's 4-byte
    FLOAT.)
#}
{% macro expectation_double(expression) -%}
    cast({{ expression }} as double)
{%- endmacro %}

{#
    The condition under which `value` (a SQL expression, e.g. a statistic)
    lies outside [min_value, max_value] (open interval with `strictly`).
    Either bound may be omitted, not both. A null value is not outside: a
    statistic of no rows (avg of nothing) passes, as every dbt test passes
    on an empty model; not_null and row-count tests catch emptiness.
#}
{% macro expectation_outside_bounds(value, min_value=none, max_value=none, strictly=false) -%}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error(
            "expectation: give min_value, max_value or both"
        ) }}
    {%- endif -%}
    {%- set lower = '>' if strictly else '>=' -%}
    {%- set upper = '<' if strictly else '<=' -%}
    not (
        1 = 1
        {%- if min_value is not none %}
        and {{ value }} {{ lower }} {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        and {{ value }} {{ upper }} {{ max_value }}
        {%- endif %}
    )
{%- endmacro %}

{#
    `value` (a Jinja string) as a SQL string literal. Snowflake reads a
    backslash in a single-quoted literal as an escape, DuckDB does not: a
    regex such as `\d{9}` must reach both engines as written.
#}
{% macro expectation_string_literal(value) -%}
    {{ return(adapter.dispatch('expectation_string_literal', 'tpch_elt')(value)) }}
{%- endmacro %}

{% macro default__expectation_string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro snowflake__expectation_string_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}

{#
    True when the regular expression `regex` matches somewhere in
    `expression` (search semantics, as Great Expectations' and
    dbt-expectations' regex tests: anchor with ^ and $ for a whole-value
    match). `flags`: regex parameters both engines read alike, 'i'
    (case-insensitive), 'c' (case-sensitive, the default), 'm' (multi-line),
    's' (dot matches newline).
#}
{% macro expectation_regex_search(expression, regex, flags='') -%}
    {%- if flags and (flags | list | reject('in', 'icms') | list) -%}
        {{ exceptions.raise_compiler_error(
            "expectation: regex flags must be among i, c, m, s, not " ~ flags
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('expectation_regex_search', 'tpch_elt')(expression, regex, flags)) }}
{%- endmacro %}

{% macro duckdb__expectation_regex_search(expression, regex, flags) -%}
    regexp_matches(
        {{ expression }},
        {{ expectation_string_literal(regex) }}
        {%- if flags %}, {{ expectation_string_literal(flags) }}{% endif %}
    )
{%- endmacro %}

{#- REGEXP_LIKE matches the whole value on Snowflake; REGEXP_INSTR finds. -#}
{% macro snowflake__expectation_regex_search(expression, regex, flags) -%}
    regexp_instr(
        {{ expression }},
        {{ expectation_string_literal(regex) }},
        1, 1, 0,
        {{ expectation_string_literal(flags or 'c') }}
    ) > 0
{%- endmacro %}

{#
    The continuous (interpolated) `quantile` (0 to 1) of a numeric
    `expression`, as an aggregate.
#}
{% macro expectation_quantile(expression, quantile) -%}
    {{ return(adapter.dispatch('expectation_quantile', 'tpch_elt')(expression, quantile)) }}
{%- endmacro %}

{% macro duckdb__expectation_quantile(expression, quantile) -%}
    quantile_cont({{ expression }}, {{ quantile }})
{%- endmacro %}

{% macro snowflake__expectation_quantile(expression, quantile) -%}
    percentile_cont({{ quantile }}) within group (order by {{ expression }})
{%- endmacro %}
