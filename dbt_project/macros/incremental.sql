{#
    How the incremental models find their new rows, and how they write them.

    1. Raw -> int_*_parsed: by load label. A run takes the raw rows whose `load_label`
       the model's own table does not hold yet (`unprocessed_loads`). Not a
       `loaded_at > max(loaded_at)` watermark: a load that commits late with an earlier
       `loaded_at` (a concurrent or retried writer) would be missed by that. A load is
       atomic per label (Stream Load label / DuckDB transaction), and an insert-select
       reads one snapshot, so a label is either wholly in the table or not at all.

    2. Inside the project: by run stamp. Every row a model writes carries the time of
       the dbt run that wrote it (`run_stamp()`; runs on one warehouse never overlap).
       An int model downstream reads the rows stamped after the newest stamp it already
       holds. Models that keep exactly the contract's columns (stg_*, fact_daily_sales)
       keep their watermark in a small log table instead (`watermark()`), written by a
       post-hook in the same transaction as the data on DuckDB, and after it on
       StarRocks: a failure there only means the next run redoes the same upserts.

    3. Writing: `upsert_strategy()` replaces rows by `unique_key` (DuckDB delete+insert;
       StarRocks `default` = insert into a Primary Key table, an upsert).
       `append_strategy()` inserts. `delete_scope()` (pre-hook) deletes a set of keys
       first, for models where a key can vanish (a day whose orders all got cancelled).
#}

{% macro upsert_strategy() -%}
    {{ return(adapter.dispatch('upsert_strategy', 'retail')()) }}
{%- endmacro %}

{% macro duckdb__upsert_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro default__upsert_strategy() -%}
    {#- StarRocks: `default` inserts; into a Primary Key table that is an upsert -#}
    {{ return('default') }}
{%- endmacro %}


{% macro append_strategy() -%}
    {{ return(adapter.dispatch('append_strategy', 'retail')()) }}
{%- endmacro %}

{% macro duckdb__append_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{% macro default__append_strategy() -%}
    {{ return('default') }}
{%- endmacro %}


{#- The time of this dbt run, as a timestamp literal (UTC). -#}
{% macro run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ timestamp_type() }})
{%- endmacro %}

{#- Before any run: the stamp a model that holds nothing yet has seen. -#}
{% macro epoch_stamp() -%}
    cast('1970-01-01 00:00:00' as {{ timestamp_type() }})
{%- endmacro %}

{% macro timestamp_type() -%}
    {{ return(adapter.dispatch('timestamp_type', 'retail')()) }}
{%- endmacro %}

{% macro duckdb__timestamp_type() -%}
    timestamp
{%- endmacro %}

{% macro default__timestamp_type() -%}
    datetime
{%- endmacro %}


{#-
    A filter on `source_relation`: the raw rows of loads `relation` has not taken in
    yet (see 1. above). The new labels are looked up first (a scan of the label column
    only) and written into the filter as constants, so the warehouse reads the payloads
    of those loads only (zone maps / min-max pruning), not of the whole history.
    A label committed after the lookup waits for the next run.
-#}
{% macro unprocessed_loads(source_relation, relation) -%}
    {%- set lookup -%}
        select distinct load_label from {{ source_relation }}
        where load_label not in (select distinct load_label from {{ relation }})
    {%- endset -%}
    {%- if flags.WHICH == 'compile' and not flags.POPULATE_CACHE -%}
        {#- compiling without a warehouse (see is_incremental.sql): the same filter, unresolved -#}
        load_label in ({{ lookup }})
    {%- else -%}
    {%- set labels = run_query(lookup).columns[0].values() | list if execute else [] -%}
    {#- Only labels of the load-label charset are written into SQL; any other value (a
        foreign writer's) keeps the subquery form, so no data ever becomes SQL text. -#}
    {%- set safe = [] -%}
    {%- for label in labels -%}
        {%- if label is string and modules.re.fullmatch('[A-Za-z0-9_]{1,128}', label) -%}
            {%- do safe.append(label) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if labels and safe | length < labels | length -%}
        load_label in ({{ lookup }})
    {%- elif labels -%}
        load_label in ({% for label in safe | sort %}'{{ label }}'{{ ", " if not loop.last }}{% endfor %})
    {%- else -%}
        1 = 0
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The newest run stamp in `column` of `relation` (the epoch when it is empty). -#}
{% macro max_stamp(relation, column) -%}
    (select coalesce(max({{ column }}), {{ epoch_stamp() }}) from {{ relation }})
{%- endmacro %}


{#- The watermark log: one row per (model, run), the input stamp the model took in. -#}
{% macro watermark_relation() -%}
    {{ return(api.Relation.create(schema='staging', identifier='incremental_watermarks')) }}
{%- endmacro %}

{#- The newest input stamp the current model has taken in. -#}
{% macro watermark() -%}
    (
        select coalesce(max(processed_through), {{ epoch_stamp() }})
        from {{ watermark_relation() }}
        where model_name = '{{ this.name }}'
    )
{%- endmacro %}

{#- Post-hook: the current model has taken in `relation` up to its newest `column`. -#}
{% macro record_watermark(relation, column) -%}
    insert into {{ watermark_relation() }} (model_name, processed_through, recorded_at)
    select '{{ this.name }}', max({{ column }}), {{ run_stamp() }}
    from {{ relation }}
{%- endmacro %}

{#- on-run-start: forget log rows older than the platform's retention window,
    RETAIL_RETENTION_MINUTES (settings.py; `retail-dbt` sets its default). A model
    that did not run for that long finds no watermark and takes in all rows once more: its upserts and delete_scope make that a slower run, not a
    wrong one. Column < literal: the only form StarRocks' DELETE on a Duplicate Key
    table takes. -#}
{% macro prune_watermarks() -%}
    {%- set minutes = env_var('RETAIL_RETENTION_MINUTES', '') -%}
    {%- if minutes -%}
    {%- set cutoff = run_started_at - modules.datetime.timedelta(minutes=minutes | float) -%}
    delete from {{ watermark_relation() }}
    where recorded_at < '{{ cutoff.strftime("%Y-%m-%d %H:%M:%S") }}'
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#- on-run-start: the log table. Append-only, so parallel models never conflict. -#}
{% macro create_watermark_table() -%}
    {{ return(adapter.dispatch('create_watermark_table', 'retail')()) }}
{%- endmacro %}

{% macro duckdb__create_watermark_table() -%}
    create table if not exists {{ watermark_relation() }} (
        model_name varchar not null,
        processed_through timestamp,
        recorded_at timestamp not null
    )
{%- endmacro %}

{% macro default__create_watermark_table() -%}
    create table if not exists {{ watermark_relation() }} (
        model_name varchar(128) not null,
        processed_through datetime,
        recorded_at datetime not null
    )
    duplicate key (model_name)
    distributed by hash (model_name) buckets 1
{%- endmacro %}


{#-
    Pre-hook: on an incremental run, delete the rows of `relation` whose `column` is
    in `scope_sql` (a select of one column), so the model re-inserts them whole.
    StarRocks Primary Key tables take DELETE ... WHERE col IN (subquery).
-#}
{% macro delete_scope(column, scope_sql) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} in ({{ scope_sql }})
    {%- endif -%}
{%- endmacro %}


{#- One raw row: its load, its payload, and which identical copy within the load. -#}
{% macro raw_row_key() -%}
    md5(concat(load_label, '|', coalesce(payload_text, ''), '|', cast(copy_in_load as varchar)))
{%- endmacro %}


{#- The distinct `column` values of the rows of `relation` re-judged since the current
    model's watermark (int_*_classified stamp every row they rewrite). -#}
{% macro changed_since_watermark(relation, column) -%}
    select distinct {{ column }}
    from {{ relation }}
    where _classified_at > {{ watermark() }}
        and {{ column }} is not null
{%- endmacro %}
