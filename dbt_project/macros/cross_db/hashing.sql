{#
    text_hash(expr): a 128-bit MD5 digest of a text as a number, to group or compare
    long texts (payloads) by a fixed-width key: a window partitioned by a 16-byte
    number sorts and hashes far faster than one partitioned by the text itself.
    Null in DuckDB; StarRocks digests null as well, so all nulls still share one key.
#}
{% macro text_hash(expression) -%}
    {{ return(adapter.dispatch('text_hash', 'retail')(expression)) }}
{%- endmacro %}

{% macro duckdb__text_hash(expression) -%}
    md5_number({{ expression }})
{%- endmacro %}

{% macro starrocks__text_hash(expression) -%}
    md5sum_numeric({{ expression }})
{%- endmacro %}

{% macro default__text_hash(expression) -%}
    {{ exceptions.raise_compiler_error("text_hash is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
