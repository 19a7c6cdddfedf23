{#
    cast_or_null(expr, type): cast, giving null instead of an error when the value
    does not convert (a price sent as "12.50" converts; "n/a" becomes null).
    DuckDB needs try_cast for that; a StarRocks cast already returns null on failure.
    (Not named `safe_cast`: dbt has its own macro of that name, used by unit tests.)
#}
{% macro cast_or_null(expression, data_type) -%}
    {{ return(adapter.dispatch('cast_or_null', 'retail')(expression, data_type)) }}
{%- endmacro %}

{% macro duckdb__cast_or_null(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro starrocks__cast_or_null(expression, data_type) -%}
    cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro default__cast_or_null(expression, data_type) -%}
    {{ exceptions.raise_compiler_error("cast_or_null is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
