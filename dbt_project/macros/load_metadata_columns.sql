{#
    The load bookkeeping every raw row carries: `_batch_id` (0 = initial
    load, 1.. = ingested batches) and `_loaded_at` (UTC). Sources that are
    not loaded by tpch-elt (Snowflake's SNOWFLAKE_SAMPLE_DATA share, chosen
    with var `tpch_source_has_load_metadata: false`) have neither: they get
    batch 0 and a null load time. `_loaded_at` is a timestamp without time
    zone on every warehouse (TIMESTAMP_NTZ on Snowflake, whatever the
    account's TIMESTAMP_TYPE_MAPPING says).
#}
{% macro load_metadata_columns() -%}
    {%- if var('tpch_source_has_load_metadata', true) -%}
        cast(_batch_id as integer) as _batch_id,
        cast(_loaded_at as {{ dbt.type_timestamp() }}) as _loaded_at
    {%- else -%}
        cast(0 as integer) as _batch_id,
        cast(null as {{ dbt.type_timestamp() }}) as _loaded_at
    {%- endif -%}
{%- endmacro %}

{#
    The source's batch id, for incremental filters on raw columns: the
    `_batch_id` column when the source has load metadata, else 0 (every row
    of a static source such as the sample share is the initial batch, so a
    re-run appends nothing instead of failing on a missing column).
#}
{% macro source_batch_id() -%}
    {%- if var('tpch_source_has_load_metadata', true) -%}
        _batch_id
    {%- else -%}
        cast(0 as integer)
    {%- endif -%}
{%- endmacro %}
