{#
    sums_match: reconciliation. Fails when a total computed over the model
    differs from the same total computed over `compare_model`, e.g. a mart's
    revenue against mart_orders'. `measures` maps a label to a pair of
    aggregate expressions [over the model, over compare_model]; a single
    expression is used on both sides. Equality is exact, so DECIMAL money
    must reconcile to its last decimal. Returns one row per measure that
    differs, with both values.

        data_tests:
          - sums_match:
              arguments:
                compare_model: ref('mart_orders')
                measures:
                  net_revenue: sum(net_revenue)
                  order_count: [sum(order_count), count(*)]
                compare_where: "order_status = 'F'"   # optional
#}
{% test sums_match(model, compare_model, measures, compare_where=none) %}

    {%- set pairs = [] %}
    {%- for label, expressions in measures.items() %}
        {%- if expressions is string %}
            {%- do pairs.append((label, expressions, expressions)) %}
        {%- else %}
            {%- do pairs.append((label, expressions[0], expressions[1])) %}
        {%- endif %}
    {%- endfor %}

    with

    model_totals as (

        select
            {%- for label, model_expression, _ in pairs %}
            {{ model_expression }} as {{ label }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ model }}

    ),

    compare_totals as (

        select
            {%- for label, _, compare_expression in pairs %}
            {{ compare_expression }} as {{ label }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ compare_model }}
        {%- if compare_where is not none %}
        where {{ compare_where }}
        {%- endif %}

    ),

    comparisons as (

        {%- for label, _, _ in pairs %}

        select
            '{{ label }}' as measure,
            cast(model_totals.{{ label }} as {{ dbt.type_string() }})
                as model_value,
            cast(compare_totals.{{ label }} as {{ dbt.type_string() }})
                as compare_value
        from model_totals
        cross join compare_totals
        where not coalesce(
            model_totals.{{ label }} = compare_totals.{{ label }},
            model_totals.{{ label }} is null
            and compare_totals.{{ label }} is null
        )
        {%- if not loop.last %}

        union all
        {%- endif %}
        {%- endfor %}

    )

    select * from comparisons

{% endtest %}
