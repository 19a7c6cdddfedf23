{#
    JSON access, one macro per question a model asks of a payload.
    Each dispatches on the adapter (`adapter.dispatch(name, 'retail')`), so models
    read the same on DuckDB and StarRocks:

      json_text(col)         the payload as text: an object's JSON text, or the raw
                             text a malformed payload was kept as (a JSON string)
      json_is_object(col)    true when the payload is a JSON object
      json_str(col, key)     a top-level value as varchar (numbers as their text,
                             null / missing key -> null)
      json_strs(col, keys)   the same for several keys, the document read once
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
    {#- The column is DuckDB's JSON type, valid JSON: an object is one whose text opens
        with `{` after any whitespace. json_type would parse the whole document again
        (4-5 of a first build's CPU-s at 10M orders). -#}
    regexp_matches(cast({{ column }} as varchar), '^\s*\{')
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


{#- json_strs(column, keys): what json_str gives for each of `keys`, reading the
    document once where the warehouse can (DuckDB parses it again for every `->>`: five
    keys cost three times one list extraction). Returns `extract`, a select-list item
    to compute beside the row first (none when there is nothing to compute), and
    `values`, each key's expression over it. -#}
{% macro json_strs(column, keys) -%}
    {{ return(adapter.dispatch('json_strs', 'retail')(column, keys)) }}
{%- endmacro %}

{% macro duckdb__json_strs(column, keys) -%}
    {%- set values = {} -%}
    {%- for key in keys -%}
        {%- do values.update({key: column ~ '_strs[' ~ loop.index ~ ']'}) -%}
    {%- endfor -%}
    {{ return({
        'extract': "json_extract_string(" ~ column ~ ", ['$." ~ keys | join("', '$.") ~ "']) as " ~ column ~ "_strs",
        'values': values,
    }) }}
{%- endmacro %}

{% macro default__json_strs(column, keys) -%}
    {%- set values = {} -%}
    {%- for key in keys -%}
        {%- do values.update({key: json_str(column, key)}) -%}
    {%- endfor -%}
    {{ return({'extract': none, 'values': values}) }}
{%- endmacro %}
