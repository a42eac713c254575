{#
    expect_column_kl_divergence_to_be_less_than (Great Expectations): fails
    when the Kullback-Leibler divergence KL(P || Q) = sum of p * ln(p / q)
    over the bins, of the column's distribution P against a reference
    distribution Q, is not below `threshold` (in nats). Nulls are left out
    of both sides; no non-null value in the model: nothing to judge, passes.
    Returns one row (counts, bins, divergence) when it fails.

    The reference, one of:

    * `partition_object: {values: [...], weights: [...]}`: categories and
      their expected weights (normalised to sum 1). Compared as text.
    * `partition_object: {bins: [e0, ..., en], weights: [w1, ..., wn]}`:
      a fixed partition of a numeric column into [e0, e1), [e1, e2), ...,
      [en-1, en] with expected weights; values below e0 or above en fall in
      two tail bins of weight 0.
    * `reference_model: ref('...')` (+ `reference_column`, default the same
      column; `reference_condition` filters it): the distribution of that
      relation's column. Categories as they are (compared as text); with
      `bins: N`, a numeric column is cut at the reference's N-quantiles
      (the N - 1 cut points k/N of its continuous quantile; equal cut points
      merge, so a discrete column gets fewer bins): a value v falls in bin
      "number of cut points <= v", the same rule on both sides.

    Empty bins: a bin empty on one side would make the divergence infinite
    (q = 0) or drop out (p = 0). Both distributions are therefore mixed with
    the uniform distribution over the union of the bins of both sides:
    share = (1 - smoothing) * share + smoothing / number_of_bins, with
    `smoothing` 0.001 by default. A category the reference never has then
    costs about p * ln(p * bins / smoothing): 0.04 at p = 1 % with 6 bins.

        columns:
          - name: order_priority
            data_tests:
              - expect_column_kl_divergence_to_be_less_than:
                  arguments:
                    threshold: 0.01
                    partition_object:
                      values: [1-URGENT, 2-HIGH, 3-MEDIUM, 4-NOT SPECIFIED, 5-LOW]
                      weights: [0.2, 0.2, 0.2, 0.2, 0.2]
#}
{% test expect_column_kl_divergence_to_be_less_than(
    model,
    column_name,
    threshold,
    partition_object=none,
    reference_model=none,
    reference_column=none,
    bins=none,
    smoothing=0.001,
    row_condition=none,
    reference_condition=none
) %}

    {#- which reference, checked before any SQL is written -#}
    {%- set fail = exceptions.raise_compiler_error %}
    {%- if (partition_object is none) == (reference_model is none) %}
        {{ fail("kl divergence: give either partition_object or reference_model") }}
    {%- endif %}
    {%- if not (0 < smoothing | float < 1) %}
        {{ fail("kl divergence: smoothing must be between 0 and 1 (exclusive), not " ~ smoothing) }}
    {%- endif %}
    {%- set fixed_values = partition_object is not none and 'values' in partition_object %}
    {%- set fixed_bins = partition_object is not none and 'bins' in partition_object %}
    {%- set quantile_bins = reference_model is not none and bins is not none %}
    {%- if partition_object is not none %}
        {%- set weights = partition_object.get('weights') or [] %}
        {%- set labels = partition_object.get('values') or partition_object.get('bins') or [] %}
        {%- if fixed_values == fixed_bins %}
            {{ fail("kl divergence: partition_object needs either values or bins, with weights") }}
        {%- elif fixed_values and labels | length != weights | length %}
            {{ fail("kl divergence: partition_object needs one weight per value") }}
        {%- elif fixed_bins and labels | length != weights | length + 1 %}
            {{ fail("kl divergence: partition_object needs one weight per bin (len(bins) - 1)") }}
        {%- elif weights | select('lt', 0) | list or weights | sum <= 0 %}
            {{ fail("kl divergence: weights must be >= 0 and not all 0") }}
        {%- endif %}
    {%- endif %}
    {%- if bins is not none and reference_model is none %}
        {{ fail("kl divergence: bins (quantile binning) goes with reference_model") }}
    {%- endif %}
    {%- if quantile_bins and (bins | int) < 2 %}
        {{ fail("kl divergence: bins must be 2 or more, not " ~ bins) }}
    {%- endif %}
    {%- set smoothing = smoothing | float %}

    with

    observed_values as (

        select
            {%- if fixed_bins or quantile_bins %}
            {{ expectation_double(column_name) }} as value
            {%- else %}
            cast({{ column_name }} as {{ dbt.type_string() }}) as value
            {%- endif %}
        from {{ model }}
        where {{ column_name }} is not null
        {%- if row_condition %}
            and ({{ row_condition }})
        {%- endif %}

    ),

    {%- if reference_model is not none %}
    {%- set reference_column = reference_column or column_name %}

    reference_values as (

        select
            {%- if quantile_bins %}
            {{ expectation_double(reference_column) }} as value
            {%- else %}
            cast({{ reference_column }} as {{ dbt.type_string() }}) as value
            {%- endif %}
        from {{ reference_model }}
        where {{ reference_column }} is not null
        {%- if reference_condition %}
            and ({{ reference_condition }})
        {%- endif %}

    ),
    {%- endif %}

    {%- if quantile_bins %}
    {%- set bin_count = bins | int %}

    reference_quantiles as (

        select
            {%- for k in range(1, bin_count) %}
            {{ expectation_quantile('value', k / bin_count) }} as cut_{{ k }}
            {{- "," if not loop.last }}
            {%- endfor %}
        from reference_values

    ),

    {# `union` keeps one of equal cut points #}
    cut_points as (
        {%- for k in range(1, bin_count) %}

        select cut_{{ k }} as cut_point from reference_quantiles
        {%- if not loop.last %}
        union
        {%- endif %}
        {%- endfor %}

    ),

    {%- for side in ['observed', 'reference'] %}

    {{ side }}_value_counts as (

        select
            value,
            count(*) as value_count
        from {{ side }}_values
        group by value

    ),

    {{ side }}_binned as (

        select
            {{ side }}_value_counts.value,
            {{ side }}_value_counts.value_count,
            count(cut_points.cut_point) as bin_index
        from {{ side }}_value_counts
        left join cut_points
            on cut_points.cut_point <= {{ side }}_value_counts.value
        group by {{ side }}_value_counts.value, {{ side }}_value_counts.value_count

    ),

    {{ side }}_bins as (

        select
            cast(bin_index as {{ dbt.type_string() }}) as bin,
            {{ expectation_double('sum(value_count)') }} as amount
        from {{ side }}_binned
        group by bin_index

    ),
    {%- endfor %}

    {%- elif fixed_bins %}
    {%- set edges = partition_object['bins'] %}

    observed_bins as (

        select
            case
                when value < {{ edges[0] }} then '< {{ edges[0] }}'
                {%- for edge in edges[1:] %}
                when value {{ '<=' if loop.last else '<' }} {{ edge }}
                    then '[{{ edges[loop.index0] }}, {{ edge }}{{ "]" if loop.last else ")" }}'
                {%- endfor %}
                else '> {{ edges[-1] }}'
            end as bin,
            {{ expectation_double('count(*)') }} as amount
        from observed_values
        group by 1

    ),

    reference_bins as (
        {%- for weight in partition_object['weights'] %}

        select
            '[{{ edges[loop.index0] }}, {{ edges[loop.index] }}{{ "]" if loop.last else ")" }}' as bin,
            {{ expectation_double(weight) }} as amount
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}

    ),

    {%- else %}

    observed_bins as (

        select
            value as bin,
            {{ expectation_double('count(*)') }} as amount
        from observed_values
        group by value

    ),

    reference_bins as (
        {%- if fixed_values %}
        {%- for category in partition_object['values'] %}

        select
            {{ expectation_string_literal(category) }} as bin,
            {{ expectation_double(partition_object['weights'][loop.index0]) }} as amount
        {%- if not loop.last %}
        union all
        {%- endif %}
        {%- endfor %}
        {%- else %}

        select
            value as bin,
            {{ expectation_double('count(*)') }} as amount
        from reference_values
        group by value
        {%- endif %}

    ),
    {%- endif %}

    all_bins as (

        select bin from observed_bins
        union
        select bin from reference_bins

    ),

    totals as (

        select
            observed_totals.amount as observed_count,
            reference_totals.amount as reference_amount,
            bin_counts.bin_count
        from (select sum(amount) as amount from observed_bins) as observed_totals
        cross join (select sum(amount) as amount from reference_bins) as reference_totals
        cross join (select count(*) as bin_count from all_bins) as bin_counts

    ),

    shares as (

        select
            all_bins.bin,
            {{ expectation_double(1 - smoothing) }} * coalesce(observed_bins.amount, 0)
                / totals.observed_count
                + {{ expectation_double(smoothing) }} / totals.bin_count as observed_share,
            {{ expectation_double(1 - smoothing) }} * coalesce(reference_bins.amount, 0)
                / nullif(totals.reference_amount, 0)
                + {{ expectation_double(smoothing) }} / totals.bin_count as reference_share
        from all_bins
        cross join totals
        left join observed_bins
            on all_bins.bin = observed_bins.bin
        left join reference_bins
            on all_bins.bin = reference_bins.bin

    ),

    divergence as (

        select sum(observed_share * ln(observed_share / reference_share)) as kl_divergence
        from shares

    )

    select
        totals.observed_count,
        totals.reference_amount,
        totals.bin_count,
        divergence.kl_divergence
    from divergence
    cross join totals
    where totals.observed_count > 0
        {#- no reference (an empty reference relation): no divergence, a failure #}
        and (
            divergence.kl_divergence is null
            or divergence.kl_divergence >= {{ threshold }}
        )

{% endtest %}
