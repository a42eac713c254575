{#
    Money and quantities stay exact DECIMALs end to end. TPC-H declares
    them DECIMAL(15,2); products of two such values keep their full scale
    (net revenue has 4 decimals, gross revenue 6) so sums reproduce the
    official TPC-H answers to the cent.
#}
{% macro money(expression) -%}
    cast({{ expression }} as decimal(15, 2))
{%- endmacro %}

{#
    The charge dbgen used when it computed o_totalprice: cents, truncated
    after the discount and again after the tax. Summed over an order's lines
    it equals the order's total_price exactly. The result is cast back to
    DECIMAL(15,2): DuckDB divides decimals in DOUBLE, and a sum of doubles
    drifts off the cent.
#}
{% macro dbgen_line_charge(extended_price, discount, tax) -%}
    {%- set cents -%}
        floor(
            floor(
                {{ extended_price }} * 100 * (100 - {{ discount }} * 100) / 100
            )
            * (100 + {{ tax }} * 100) / 100
        )
    {%- endset -%}
    {{ money(cents ~ ' / 100') }}
{%- endmacro %}
