{#
    The load bookkeeping every raw row carries: `_batch_id` (0 = initial
    load, 1.. = ingested batches) and `_loaded_at` (UTC). Sources that are
    not loaded by tpch-elt (Snowflake's SNOWFLAKE_SAMPLE_DATA share, chosen
    with var `tpch_source_has_load_metadata: false`) have neither: they get
    batch 0 and a null load time.
#}
{% macro load_metadata_columns() -%}
    {%- if var('tpch_source_has_load_metadata', true) -%}
        cast(_batch_id as integer) as _batch_id,
        cast(_loaded_at as timestamp) as _loaded_at
    {%- else -%}
        cast(0 as integer) as _batch_id,
        cast(null as timestamp) as _loaded_at
    {%- endif -%}
{%- endmacro %}
