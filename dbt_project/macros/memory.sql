{#
    How much memory DuckDB may use in this build. The profile's `memory_limit`
    (RETAIL_DUCKDB_MEMORY_LIMIT, retail_platform/settings.py) is sized for the builds
    that run all month, the incremental ones. A full build (the first one, or
    `--full-refresh`) parses, sorts and numbers the whole history at once: within that
    limit base_orders_classified alone spills ~15 GB to `<file>.tmp/` at 10M orders.
    So a build that creates an incremental model from scratch raises the limit to
    RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT for its own process, from its start (an
    on-run-start hook: DuckDB's limit is one for the whole database, every thread of
    the build shares it; the profile sets the other one when the database opens, not
    per connection, so no later connection lowers it again).

    On StarRocks memory is the server's business: nothing to do.
#}
{% macro memory_for_full_builds() -%}
    {{ return(adapter.dispatch('memory_for_full_builds')()) }}
{%- endmacro %}

{% macro default__memory_for_full_builds() -%}
{%- endmacro %}

{% macro duckdb__memory_for_full_builds() -%}
    {%- if execute and builds_from_scratch() -%}
        {%- set limit = env_var('RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT') -%}
        {{- log('A full build: DuckDB may use ' ~ limit ~ ' of memory (RETAIL_DUCKDB_FULL_BUILD_MEMORY_LIMIT)', info=True) -}}
        set global memory_limit = '{{ limit | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- True when this invocation rebuilds an incremental model whole: `--full-refresh`,
    or one of the models it selects has no table yet. -#}
{% macro builds_from_scratch() -%}
    {%- if flags.FULL_REFRESH -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- for unique_id in selected_resources -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node and node.resource_type == 'model' and node.config.materialized == 'incremental'
            and adapter.get_relation(node.database, node.schema, node.alias) is none -%}
            {{- return(true) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(false) -}}
{%- endmacro %}
