{#
    dbt's is_incremental(), except that it never asks the warehouse when dbt was told
    not to: `dbt compile --no-populate-cache` (the StarRocks check with no server)
    renders the first-build SQL instead of failing to connect. `--vars
    '{assume_incremental: true}'` renders the incremental SQL without a server instead.
#}
{% macro is_incremental() -%}
    {%- set assumed = var('assume_incremental', none) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- elif assumed is not none -%}
        {{ return(assumed and model.config.materialized == 'incremental' and not should_full_refresh()) }}
    {%- elif flags.WHICH == 'compile' and not flags.POPULATE_CACHE -%}
        {{ return(false) }}
    {%- else -%}
        {{ return(dbt.is_incremental()) }}
    {%- endif -%}
{%- endmacro %}
