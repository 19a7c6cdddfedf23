{#
    unnest_json_array(relation, json_column, path, keys, value_as, position_as)

    A full select statement: every column of `relation` (a CTE or table) plus one row
    per element of the JSON array at `$.<path>` in `json_column`: each of `keys` of the
    element as text, named `<value_as>_<key>` (as json_str gives it: null when the
    element is no object or lacks the key), and the element's 1-based position in the
    array (`position_as`). Rows whose array is missing, empty or not an array produce
    no rows.
#}
{% macro unnest_json_array(relation, json_column, path, keys, value_as='element', position_as='position') -%}
    {{ return(adapter.dispatch('unnest_json_array', 'retail')(relation, json_column, path, keys, value_as, position_as)) }}
{%- endmacro %}

{% macro duckdb__unnest_json_array(relation, json_column, path, keys, value_as, position_as) -%}
    {#- In the select list, not a lateral join: DuckDB plans `from t, unnest(f(t.col))`
        as a join back on the distinct values of t.col, here every payload hashed (90 s
        of 98 in base_order_items' first build at 10M orders, DuckDB's profile; 13 s
        this way). generate_subscripts numbers the elements in array order, in step
        with unnest. from_json reads the document once into a list of structs of the
        keys' texts, where a JSON[] of the elements would be parsed again for each key
        (a third less CPU over a first build's 27M items). -#}
    {%- set element_type = {} -%}
    {%- for key in keys -%}
        {%- do element_type.update({key: 'VARCHAR'}) -%}
    {%- endfor %}
    select
        * exclude ({{ value_as }})
        {%- for key in keys %},
        {{ value_as }}.{{ key }} as {{ value_as }}_{{ key }}
        {%- endfor %}
    from (
        select
            * exclude (elements),
            unnest(elements) as {{ value_as }},
            generate_subscripts(elements, 1) as {{ position_as }}
        from (
            select
                {{ relation }}.*,
                from_json({{ relation }}.{{ json_column }}, '{{ tojson({path: [element_type]}) }}').{{ path }} as elements
            from {{ relation }}
        ) as with_elements
    ) as unnested
{%- endmacro %}

{% macro starrocks__unnest_json_array(relation, json_column, path, keys, value_as, position_as) -%}
    {#-
        unnest() over two arrays walks them side by side: the elements, and 1..n from
        array_generate. (StarRocks pads the shorter array with nulls, hence the filter.)
    -#}
    select
        {{ relation }}.*,
        {%- for key in keys %}
        {{ json_str('elements.' ~ value_as, key) }} as {{ value_as }}_{{ key }},
        {%- endfor %}
        elements.{{ position_as }}
    from {{ relation }},
        unnest(
            cast(json_query({{ relation }}.{{ json_column }}, '$.{{ path }}') as array<json>),
            array_generate(1, json_length({{ relation }}.{{ json_column }}, '$.{{ path }}'), 1)
        ) as elements({{ value_as }}, {{ position_as }})
    where elements.{{ value_as }} is not null
{%- endmacro %}

{% macro default__unnest_json_array(relation, json_column, path, keys, value_as, position_as) -%}
    {{ exceptions.raise_compiler_error("unnest_json_array is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
