{#
    JSON access, one macro per question a model asks of a payload.
    Each dispatches on the adapter (`adapter.dispatch(name, 'retail')`), so models
    read the same on DuckDB and StarRocks:

      json_text(col)         the payload as text: an object's JSON text, or the raw
                             text a malformed payload was kept as (a JSON string)
      json_is_object(col)    true when the payload is a JSON object
      json_str(col, key)     a top-level value as varchar (numbers as their text,
                             null / missing key -> null)
#}

{% macro json_text(column) -%}
    {{ return(adapter.dispatch('json_text', 'retail')(column)) }}
{%- endmacro %}

{% macro duckdb__json_text(column) -%}
    ({{ column }} ->> '$')
{%- endmacro %}

{% macro starrocks__json_text(column) -%}
    {#- a JSON string casts to its unquoted text, anything else to its JSON text -#}
    cast({{ column }} as varchar)
{%- endmacro %}

{% macro default__json_text(column) -%}
    {{ exceptions.raise_compiler_error("json_text is not implemented for " ~ adapter.type()) }}
{%- endmacro %}


{% macro json_is_object(column) -%}
    {{ return(adapter.dispatch('json_is_object', 'retail')(column)) }}
{%- endmacro %}

{% macro duckdb__json_is_object(column) -%}
    coalesce(json_type({{ column }}) = 'OBJECT', false)
{%- endmacro %}

{% macro starrocks__json_is_object(column) -%}
    {#- json_keys returns null for anything that is not an object -#}
    (json_keys({{ column }}) is not null)
{%- endmacro %}

{% macro default__json_is_object(column) -%}
    {{ exceptions.raise_compiler_error("json_is_object is not implemented for " ~ adapter.type()) }}
{%- endmacro %}


{% macro json_str(column, key) -%}
    {{ return(adapter.dispatch('json_str', 'retail')(column, key)) }}
{%- endmacro %}

{% macro duckdb__json_str(column, key) -%}
    ({{ column }} ->> '$.{{ key }}')
{%- endmacro %}

{% macro starrocks__json_str(column, key) -%}
    get_json_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro default__json_str(column, key) -%}
    {{ exceptions.raise_compiler_error("json_str is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
