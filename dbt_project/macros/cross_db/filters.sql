{#
    in_values(column, values): `column` is one of `values` (SQL literals), as a filter
    the warehouse applies while it scans. DuckDB plans `in (...)` of more than a few
    constants as a join after the scan, which keeps only the row groups whose min/max
    can match and then reads every column of every row in them: the ids a batch
    re-judges, a few old orders over the history, made it read 15 row groups whole.
    `= any([...])` it applies in the scan, reading the other columns of the matching
    rows only (the same row groups). No values: no row.
#}
{% macro in_values(column, values) -%}
    {%- if values -%}
        {{ return(adapter.dispatch('in_values', 'retail')(column, values)) }}
    {%- endif -%}
    {{ return('1 = 0') }}
{%- endmacro %}

{% macro duckdb__in_values(column, values) -%}
    {{ return(column ~ ' = any([' ~ values | join(', ') ~ '])') }}
{%- endmacro %}

{% macro default__in_values(column, values) -%}
    {{ return(column ~ ' in (' ~ values | join(', ') ~ ')') }}
{%- endmacro %}
