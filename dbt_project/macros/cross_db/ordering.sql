{#
    write_order(columns): the order a model's rows are written in, at the end of its
    select. DuckDB skips a row group whose min/max of a column cannot match a filter
    or a join's keys; a batch's keys are mostly recent ones, so a table written in key
    order lets the batch read its own part of the history, not all of it. StarRocks
    keeps a table sorted by its own key: nothing to add there.
#}
{% macro write_order(columns) -%}
    {{ return(adapter.dispatch('write_order', 'retail')(columns)) }}
{%- endmacro %}

{% macro duckdb__write_order(columns) -%}
    order by {{ columns }}
{%- endmacro %}

{% macro starrocks__write_order(columns) -%}
{%- endmacro %}

{% macro default__write_order(columns) -%}
    {{ exceptions.raise_compiler_error("write_order is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
