{#
    Batch-scoped tests. dbt wraps the relation every generic test reads in
    `get_where_subquery`; this override adds one rule to dbt's own:

    When `tpch-elt build` runs incrementally it sets the environment
    variable TPCH_ELT_TESTS_FROM_BATCH to the first batch the build adds.
    Row-level tests on the models listed in var `batch_scoped_models` then
    read only rows with `_batch_id >=` that batch, so an incremental run
    costs what its delta costs. Table-level invariants (unique keys, row
    count equality) still see the whole table: they are cheap and cannot be
    judged from new rows alone. With the variable unset (first build, full
    refresh, `tpch-elt build --full-tests`) every test sees all history.

    An environment variable, not a dbt var, because it is read only at run
    time: changing it does not force dbt to re-parse the project.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set scope = batch_scope(relation) -%}
    {%- if where and scope -%}
        {%- set where = '(' ~ where ~ ') and ' ~ scope -%}
    {%- elif scope -%}
        {%- set where = scope -%}
    {%- endif -%}
    {%- if where -%}
        {%- if "__dbt__cte__" in where -%}
            {#- avoid ephemeral ctes in where (mirrors dbt's implementation) -#}
            {%- set where = where | replace("__dbt__cte__", "") -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#
    The `_batch_id >= N` filter for `relation` in the current test, or ''
    when the test must see the whole table. Unique-key tests are not
    filtered here: they check the new keys against the whole table
    (see unique_keys_sql).
#}
{% macro batch_scope(relation) -%}
    {%- set whole_table_tests = [
        'unique', 'unique_combination_of_columns', 'equal_row_count',
    ] -%}
    {%- set test_name = (model.test_metadata or {}).get('name', '') -%}
    {%- if test_name not in whole_table_tests -%}
        {{ new_batches_filter(relation) }}
    {%- endif -%}
{%- endmacro %}

{#
    `_batch_id >= N` when an incremental build is testing `relation`, a
    batch-scoped model; '' otherwise.
#}
{% macro new_batches_filter(relation) -%}
    {#- read only at execution: read while parsing, dbt would note the
        variable and re-parse every test file whenever it changes -#}
    {%- set from_batch = env_var('TPCH_ELT_TESTS_FROM_BATCH', '') if execute else '' -%}
    {%- if from_batch
        and relation.identifier is defined
        and relation.identifier in var('batch_scoped_models') -%}
        _batch_id >= {{ from_batch | int }}
    {%- endif -%}
{%- endmacro %}
