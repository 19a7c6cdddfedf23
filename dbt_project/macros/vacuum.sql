{#
    When a build lets DuckDB vacuum. A checkpoint rewrites the row groups of every table
    a build changed; with vacuum it also merges the row groups its deletes thinned.
    Every batch deletes and rewrites the versions of its recent orders, and those live
    in the last row groups of each table, so a vacuum at every build merges those same
    row groups again and again, at a cost that grows with the row group size rather
    than the batch. Only the first build of each period (RETAIL_DUCKDB_VACUUM_MINUTES,
    retail_platform/settings.py; 0: every build) vacuums; the others leave their
    deleted rows and each batch's partial row group to it, and it merges them at once.
    Which build is first is read off the data: the newest stamp of the parsed models
    (macros/incremental.sql) is the previous build's start.

    On StarRocks compaction is the server's own business: nothing to do.
#}
{% macro limit_vacuum() -%}
    {{ return(adapter.dispatch('limit_vacuum')()) }}
{%- endmacro %}

{% macro default__limit_vacuum() -%}
{%- endmacro %}

{% macro duckdb__limit_vacuum() -%}
    {%- set period = env_var('RETAIL_DUCKDB_VACUUM_MINUTES', '0') | int * 60 -%}
    {%- if execute and period > 0 and not flags.FULL_REFRESH -%}
        {%- set newest = [] -%}
        {%- for name in ['base_customers_parsed', 'base_products_parsed', 'base_orders_parsed'] -%}
            {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- do newest.append('select max(_stamp) as stamp from ' ~ relation) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if newest -%}
            {%- set same_period = run_query(
                'select floor(epoch(max(stamp)) / ' ~ period ~ ') = floor(epoch('
                ~ run_stamp() ~ ') / ' ~ period ~ ') from (' ~ newest | join(' union all ') ~ ') as stamps'
            ).columns[0].values()[0] -%}
            {%- if same_period -%}
                set global max_vacuum_tasks = 0
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
