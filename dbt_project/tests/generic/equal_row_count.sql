{#
    equal_row_count: fails when the model and `compare_model` hold a
    different number of rows, e.g. a one-row-per-order mart against the
    staged orders it was built from.
#}
{% test equal_row_count(model, compare_model) %}

    with

    model_rows as (

        select count(*) as n_rows from {{ model }}

    ),

    compare_rows as (

        select count(*) as n_rows from {{ compare_model }}

    )

    select
        model_rows.n_rows as model_rows,
        compare_rows.n_rows as compare_rows
    from model_rows
    cross join compare_rows
    where model_rows.n_rows <> compare_rows.n_rows

{% endtest %}
