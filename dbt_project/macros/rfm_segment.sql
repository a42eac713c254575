{#
    Maps 1-5 recency, frequency and monetary scores to a named segment.
    Rules are checked in order; the first that matches wins. Customers
    without orders have null scores and are labelled 'No orders'.
#}
{% macro rfm_segment(r_score, f_score, m_score) -%}
    case
        when {{ r_score }} is null then 'No orders'
        when {{ r_score }} >= 4 and {{ f_score }} >= 4 and {{ m_score }} >= 4
            then 'Champions'
        when {{ r_score }} >= 3 and {{ f_score }} >= 4 then 'Loyal'
        when {{ r_score }} >= 4 and {{ f_score }} <= 2 then 'New'
        when {{ r_score }} <= 2 and {{ f_score }} >= 4 then 'Cannot lose'
        when {{ r_score }} <= 2 and {{ f_score }} >= 3 then 'At risk'
        when {{ r_score }} <= 2 and {{ f_score }} <= 2 then 'Hibernating'
        else 'Potential loyalist'
    end
{%- endmacro %}
