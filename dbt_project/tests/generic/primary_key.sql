{#
    Generic test: `columns` identify a row of the model: none of them is null and no
    two rows share them. dbt's `unique` and `not_null` in one query: one node of the
    build and one asset check per key instead of two or three.
#}
{% test primary_key(model, columns) %}

{%- set columns_csv = columns | join(', ') %}

select
    {{ columns_csv }},
    count(*) as n_rows
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1
    {%- for column in columns %}
    or {{ column }} is null
    {%- endfor %}

{% endtest %}
