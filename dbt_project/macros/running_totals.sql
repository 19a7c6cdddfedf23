{#
    Running totals: what Dagster shows of a view over the whole history (the row counts
    of stg_* and quarantine_*, the fact's number of days and total revenue), kept
    incrementally instead of counted over the history at every build.

    A model whose views are counted this way names its figures (SQL aggregates over its
    own rows: `sum(case when is_latest_version then 1 else 0 end)`); a view names the
    figure that counts it (`meta: row_count: {kept_by: model, figure: name}`). The
    totals live in one small table (`report_totals`, next to the models), one row per
    model and figure: `kind` 'total', the figure over the model's rows as of `as_of`.

    A build of the model replaces some of its rows (macros/incremental.sql: every
    version of the ids it re-judges; the days it recomputes), so its new total is the
    old one, less the figure over the rows it replaces, plus the figure over the rows it
    writes (stamped with this run). The rows it replaces are only known before it
    writes: where it works out what it replaces (classify_versions at render time, the
    pre-hook delete of the days), `note_replaced()` keeps their figures as `kind`
    'replaced', with this run's stamp (`as_of`) and the model's newest stamp before the
    run (`since`). The model's post-hook, `keep_running_totals()`, then writes the new
    totals with this run's stamp.

    A total counts only if nothing was written to the model since it was taken: the
    old total must be as of `since` or later, and a view's report takes a total only if
    it is as of the model's newest stamp or later. Otherwise (a first build, a
    --full-refresh, a build that dbt ran by hand without reports, a crash on StarRocks
    between a model's insert and its post-hook) the figure is counted again over the
    whole model, and the chain starts again from there. Like the reports, the totals
    are kept only when dbt's output is machine-read (macros/dagster_metadata.sql).
#}

{#- Next to the models: in the database of `this`, or of the graph node `node` where no
    model is being built (on-run-start). -#}
{% macro report_totals_relation(node=none) -%}
    {{ return(api.Relation.create(database=(node or this).database, schema=target.schema, identifier='report_totals')) }}
{%- endmacro %}

{#- on-run-start: the table, once per run (by the hooks of two models at once, DuckDB
    would refuse the second create). StarRocks replicas as the models' (dbt_project.yml). -#}
{% macro create_report_totals() -%}
    {%- if reports_wanted() -%}
        {%- set node = graph.nodes['model.' ~ project_name ~ '.base_orders_classified'] -%}
        {{ adapter.dispatch('create_report_totals', 'retail')(
            report_totals_relation(node), node.config.get('properties'),
        ) }}
    {%- endif -%}
{%- endmacro %}

{% macro duckdb__create_report_totals(relation, properties) -%}
    create table if not exists {{ relation }} (
        model varchar, figure varchar, kind varchar,
        as_of timestamp, since timestamp, value decimal(38, 4),
        primary key (model, figure, kind)
    )
{%- endmacro %}

{% macro starrocks__create_report_totals(relation, properties) -%}
    create table if not exists {{ relation }} (
        model varchar(64) not null, figure varchar(32) not null, kind varchar(16) not null,
        as_of datetime, since datetime, value decimal(38, 4)
    )
    primary key (model, figure, kind)
    distributed by hash(model) buckets 1
    {%- if properties %}
    properties ({% for key, value in properties.items() %}"{{ key }}" = "{{ value }}"{{ ", " if not loop.last }}{% endfor %})
    {%- endif %}
{%- endmacro %}

{#- Write the rows (model, figure, kind, as_of, since, value) of `rows` (a select, or
    `values (...), ...`), replacing the rows of the same (model, figure, kind). -#}
{% macro upsert_report_totals(relation, rows) -%}
    {{ return(adapter.dispatch('upsert_report_totals', 'retail')(relation, rows)) }}
{%- endmacro %}

{% macro duckdb__upsert_report_totals(relation, rows) -%}
    insert or replace into {{ relation }} (model, figure, kind, as_of, since, value)
    {{ rows }}
{%- endmacro %}

{#- An insert into a Primary Key table replaces the row of the same key. -#}
{% macro starrocks__upsert_report_totals(relation, rows) -%}
    insert into {{ relation }} (model, figure, kind, as_of, since, value)
    {{ rows }}
{%- endmacro %}

{#- A select of one row per figure: (model, figure, `kind`, this run's stamp, `since`,
    the figure over this model's rows where `condition` holds), in one scan; or where
    one of `condition`'s conditions holds, when it is a list of disjoint ones (one
    select each: see classify_versions' scope parts). -#}
{% macro figure_rows(figures, kind, since, condition) -%}
    with counted as (
        select
        {%- for name, aggregate in figures.items() %}
            coalesce({{ aggregate }}, 0) as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
        {%- if condition is string or not condition %}
        from {{ this }}
        {%- if condition %}
        where {{ condition }}
        {%- endif %}
        {%- else %}
        from (
            {%- for part in condition %}
            select * from {{ this }} where {{ part }}
            {{ 'union all' if not loop.last }}
            {%- endfor %}
        ) as parts
        {%- endif %}
    )
    {%- for name in figures %}
    select '{{ this.name }}' as model, '{{ name }}' as figure, '{{ kind }}' as kind,
        {{ run_stamp() }} as as_of, {{ since }} as since, {{ name }} as value
    from counted
    {{ 'union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Before an incremental run writes: the figures over the rows of this model it is
    about to replace (`replaced`: a condition over them, or a list, as figure_rows). -#}
{% macro note_replaced(figures, replaced) -%}
    {%- if reports_wanted() and is_incremental() and not offline_compile() -%}
        {%- do run_query(upsert_report_totals(
            report_totals_relation(), figure_rows(figures, 'replaced', newest_stamp(), replaced)
        )) -%}
    {%- endif -%}
{%- endmacro %}

{#- Post-hook: this model's totals after this run (see above): the old totals, less
    what this run replaced, plus what it wrote, where that chain holds; else counted.
    `over`: the rows, after the run, that stand for those noted as replaced, where the
    run rewrote only some of them (int_daily_sales: the days it touched, of which it
    may write only some products; conditions, as figure_rows takes); by default the
    rows this run wrote. -#}
{% macro keep_running_totals(figures, over=none) -%}
    {%- if reports_wanted() -%}
        {%- set relation = report_totals_relation() -%}
        {%- set kept = [] -%}
        {%- if is_incremental() -%}
            {%- set chained -%}
                with written as (
                    {{ figure_rows(figures, 'written', 'null', over or '_stamp = ' ~ run_stamp()) }}
                )
                select pending.figure, old.value - pending.value + written.value
                from {{ relation }} as pending
                inner join {{ relation }} as old
                    on old.model = pending.model and old.figure = pending.figure and old.kind = 'total'
                inner join written
                    on written.figure = pending.figure
                where pending.model = '{{ this.name }}' and pending.kind = 'replaced'
                    and pending.as_of = {{ run_stamp() }} and old.as_of >= pending.since
            {%- endset -%}
            {%- for figure, value in run_query(chained).rows -%}
                {%- do kept.append("('" ~ this.name ~ "', '" ~ figure ~ "', 'total', " ~ run_stamp() ~ ", null, " ~ value ~ ")") -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if kept | length == figures | length -%}
            {{ upsert_report_totals(relation, 'values ' ~ kept | join(', ')) }}
        {%- else -%}
            {{ upsert_report_totals(relation, figure_rows(figures, 'total', 'null', none)) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- For a view's report: a scalar subquery of the figure `figure` of model `kept_by`,
    if this run wrote it (after the model: nothing is newer), else null. -#}
{% macro running_total_sql(kept_by, figure) -%}
    (select value from {{ report_totals_relation() }}
     where model = '{{ kept_by }}' and figure = '{{ figure }}' and kind = 'total'
        and as_of = {{ run_stamp() }})
{%- endmacro %}

{#- The same figure when this run did not write it (the model was not built in this
    run): if it still holds for the model's rows (nothing written since), else none. -#}
{% macro running_total(kept_by, figure) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ kept_by] -%}
    {%- set model_relation = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
    {%- set found = run_query(
        "select value from " ~ report_totals_relation()
        ~ " where model = '" ~ kept_by ~ "' and figure = '" ~ figure ~ "' and kind = 'total'"
        ~ " and as_of >= (select max(_stamp) from " ~ model_relation ~ ")"
    ).columns[0].values() -%}
    {{ return(found[0] if found else none) }}
{%- endmacro %}
