{#
    Environments on Snowflake (README, "Environments"): one database per
    environment. prod is the `snowflake` target's database
    (SNOWFLAKE_DATABASE, default TPCH_ELT); environment NAME is
    <prod>_<NAME>, which the snowflake_dev and snowflake_staging targets build.

        dbt run-operation clone_environment --args '{environment: dev}' --target snowflake
            create or replace database TPCH_ELT_DEV clone TPCH_ELT      zero-copy: prod as it is
        dbt build --target snowflake_dev --select state:modified+ --state <prod's manifest>
            the change, built and tested in the clone (the rest is prod's, as cloned)
        dbt run-operation promote_environment --args '{environment: dev}' --target snowflake
            alter database TPCH_ELT swap with TPCH_ELT_DEV             one atomic rename
        the same swap again rolls back: TPCH_ELT_DEV holds the old prod.

    `dry_run: true` logs the statement instead of running it. On DuckDB,
    `tpch-elt env create|promote|rollback` do the same with catalogs.
#}

{% macro environment_database(environment) %}
    {% if not modules.re.match('^[a-z][a-z0-9_]{0,39}$', environment) %}
        {{ exceptions.raise_compiler_error(
            "environment name '" ~ environment ~ "' is not valid: a lower-case letter, then up to 39 "
            ~ "lower-case letters, digits or underscores"
        ) }}
    {% endif %}
    {{ return((target.database ~ '_' ~ environment) | upper) }}
{% endmacro %}

{% macro clone_environment(environment, dry_run=false) %}
    {{ return(adapter.dispatch('clone_environment', 'tpch_elt')(environment, dry_run)) }}
{% endmacro %}

{% macro snowflake__clone_environment(environment, dry_run) %}
    {% set sql -%}
        create or replace database {{ adapter.quote(environment_database(environment)) }} clone {{ adapter.quote(target.database | upper) }}
    {%- endset %}
    {{ return(run_environment_sql(sql, dry_run)) }}
{% endmacro %}

{% macro default__clone_environment(environment, dry_run) %}
    {{ exceptions.raise_compiler_error(
        "clone_environment is for Snowflake targets; on DuckDB run `tpch-elt env create " ~ environment ~ "`"
    ) }}
{% endmacro %}

{% macro promote_environment(environment, dry_run=false) %}
    {{ return(adapter.dispatch('promote_environment', 'tpch_elt')(environment, dry_run)) }}
{% endmacro %}

{% macro snowflake__promote_environment(environment, dry_run) %}
    {% set sql -%}
        alter database {{ adapter.quote(target.database | upper) }} swap with {{ adapter.quote(environment_database(environment)) }}
    {%- endset %}
    {{ return(run_environment_sql(sql, dry_run)) }}
{% endmacro %}

{% macro default__promote_environment(environment, dry_run) %}
    {{ exceptions.raise_compiler_error(
        "promote_environment is for Snowflake targets; on DuckDB run `tpch-elt env promote " ~ environment ~ "`"
    ) }}
{% endmacro %}

{% macro run_environment_sql(sql, dry_run) %}
    {% set statement = sql | trim %}
    {% if dry_run %}
        {{ log('dry run: ' ~ statement, info=true) }}
    {% else %}
        {{ log(statement, info=true) }}
        {% do run_query(statement) %}
    {% endif %}
    {{ return(statement) }}
{% endmacro %}
