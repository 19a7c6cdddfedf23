{#
    Generic test: the combination of `combination_of_columns` is unique in the model
    (what dbt_utils.unique_combination_of_columns does, without the package).
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

{%- set columns_csv = combination_of_columns | join(', ') %}

select
    {{ columns_csv }},
    count(*) as n_rows
from {{ model }}
group by {{ columns_csv }}
having count(*) > 1

{% endtest %}
