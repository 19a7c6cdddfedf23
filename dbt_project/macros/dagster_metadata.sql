{#
    What Dagster shows of each model's data (row count, typed columns; the fact's daily
    figures), asked by dbt itself, on its own connection, right after the model is
    built (post-hooks, dbt_project.yml), and logged as one JSON line per report into
    dbt's event stream. retail_platform/assets/dbt_metadata.py attaches it to the
    model's materialization as the event streams by: no second connection, which an
    embedded DuckDB file would refuse while dbt holds it, and no waiting for dbt to exit.

    Only when dbt's output is machine-read (`--log-format json`, as Dagster runs it):
    by hand, dbt prints nothing more and asks nothing more.
#}

{#- Read only when a model runs (`execute`), so dbt's partial parsing never tracks it. -#}
{% macro reports_wanted() %}
    {{- return(execute and flags.LOG_FORMAT == 'json') -}}
{% endmacro %}

{#- `started`: when the report began. Each report says how long it took (`seconds`,
    its queries included): bench/bench_transform.py sums them in the very build it
    times; Dagster's metadata leaves them out. -#}
{% macro report_to_dagster(report, started) %}
    {%- set message = {'unique_id': model.unique_id} -%}
    {%- do message.update(report) -%}
    {%- do message.update({'seconds': (modules.datetime.datetime.now() - started).total_seconds()}) -%}
    {{- log('dagster_metadata ' ~ tojson(message), info=True) -}}
{% endmacro %}

{# Every model: its rows and its columns with their warehouse types. A view that
   filters a model's rows (meta `row_count`) takes its count from that model's running
   totals (macros/running_totals.sql) instead of counting the history; a table's count
   is the warehouse's own metadata. #}
{% macro report_relation() %}
    {%- if reports_wanted() -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {%- set kept = model.config.get('meta', {}).get('row_count') -%}
        {%- set count = running_total_sql(kept.kept_by, kept.figure) if kept else '(select count(*) from ' ~ this ~ ')' -%}
        {%- set rows, columns = adapter.dispatch('rows_and_columns', 'retail')(this, count) -%}
        {%- if rows is none and kept -%}
            {%- set rows = running_total(kept.kept_by, kept.figure) -%}
        {%- endif -%}
        {%- if rows is none -%}
            {%- set rows = run_query('select count(*) from ' ~ this).columns[0].values()[0] -%}
        {%- endif -%}
        {{ report_to_dagster({'row_count': rows | int, 'columns': columns}, started) }}
    {%- endif -%}
{% endmacro %}

{#- (`count`, a scalar subquery; [[column, type], ...]) of a relation, types as the
    adapter names them. On DuckDB in one query (its `describe`, as dbt-duckdb's
    get_columns_in_relation, with the count beside it): each query costs dbt a few ms
    of its own, ~20 per build. -#}
{% macro duckdb__rows_and_columns(relation, count) %}
    {%- set found = run_query(
        'select column_name, column_type, ' ~ count ~ ' from (describe ' ~ relation ~ ')'
    ).rows -%}
    {%- set columns = [] -%}
    {%- for row in found -%}
        {%- do columns.append([row[0], row[1] | lower]) -%}
    {%- endfor -%}
    {{- return((found[0][2], columns)) -}}
{% endmacro %}

{% macro default__rows_and_columns(relation, count) %}
    {%- set rows = run_query('select ' ~ count).columns[0].values()[0] -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do columns.append([column.name, column.dtype | lower]) -%}
    {%- endfor -%}
    {{- return((rows, columns)) -}}
{% endmacro %}

{#
    fact_daily_sales: the two newest days (the newest is still filling up; the one
    before it is the latest complete day), the number of days and the total revenue
    (running totals of int_daily_sales, macros/running_totals.sql); and the orders of
    the complete day (the fact's order_count is per product, an order may hold several).
#}
{% macro report_daily_figures(order_items) %}
    {%- if reports_wanted() -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {#- The two newest days, looked for from a week before the newest day this run
            wrote to int_daily_sales on: a range the warehouse prunes by, found from the
            rows of this run's stamp (the days of the whole history otherwise); over the
            whole history only when that range holds fewer than two (this run wrote no
            day, or a day of an old order only). -#}
        {%- set newest_days = 'select order_date, sum(revenue), sum(units_sold), '
            ~ running_total_sql('int_daily_sales', 'days') ~ ', ' ~ running_total_sql('int_daily_sales', 'revenue')
            ~ ' from ' ~ this
            ~ ' where order_date in (select distinct order_date from ' ~ this ~ '{within} order by order_date desc limit 2)'
            ~ ' group by order_date order by order_date desc' -%}
        {%- set week_before_written = 'select cast(' ~ dateadd('day', -7, 'max(order_date)') ~ ' as date)'
            ~ ' from ' ~ ref('int_daily_sales') ~ ' where _stamp = ' ~ run_stamp() -%}
        {%- set newest = run_query(newest_days.replace('{within}', ' where order_date >= (' ~ week_before_written ~ ')')).rows -%}
        {%- if newest | length < 2 -%}
            {%- set newest = run_query(newest_days.replace('{within}', '')).rows -%}
        {%- endif -%}
        {%- set totals = [newest[0][3], newest[0][4]] if newest else [0, 0] -%}
        {%- if none in totals -%}
            {%- set totals = [running_total('int_daily_sales', 'days'), running_total('int_daily_sales', 'revenue')] -%}
        {%- endif -%}
        {%- if none in totals -%}
            {%- set totals = run_query('select count(distinct order_date), sum(revenue) from ' ~ this).rows[0] -%}
        {%- endif -%}
        {%- set days = [] -%}
        {%- for day in newest -%}
            {%- do days.append([day[0] | string, day[1] | float, day[2] | int, totals[0] | int, totals[1] | float]) -%}
        {%- endfor -%}
        {%- set report = {'days': days} -%}
        {%- if days | length > 1 -%}
            {%- set orders = run_query(
                'select count(distinct order_id) from ' ~ order_items
                ~ " where status <> 'cancelled' and order_date = cast('" ~ days[1][0] ~ "' as date)"
            ).columns[0].values()[0] -%}
            {%- do report.update({'complete_day_orders': orders | int}) -%}
        {%- endif -%}
        {{ report_to_dagster(report, started) }}
    {%- endif -%}
{% endmacro %}

{#- What report_daily_figures reads over the whole history, kept by int_daily_sales as
    running totals (macros/running_totals.sql), each taken over whole days before and
    after a build, so a count of distinct days adds up too. A day counts while one of
    its rows has orders (a row with none is on its way out: models/intermediate), and so
    does a row: `fact_rows` is the fact's row count (its meta `row_count`). -#}
{% macro daily_figures() -%}
    {{ return({
        'days': 'count(distinct case when order_count > 0 then order_date end)',
        'revenue': 'sum(revenue)',
        'fact_rows': 'count(case when order_count > 0 then 1 end)',
    }) }}
{%- endmacro %}

{#
    A dimension's pre-hook: of the rows this build upserts (the latest versions of the
    keys `stamped` re-judged since the dimension's newest stamp, as `staging` holds
    them: macros/incremental.sql), how many are new and how many change a row it holds.
    Read before the upsert. A first build (or --full-refresh) has no rows before it:
    every row is new.

    The rows it holds of those keys: when the dimension took in `stamped`'s previous
    run (`in_step_with`), the versions `stamped` has written again since with
    `was_latest_version` (each id's latest before), found by their stamp like the new
    ones; otherwise its own rows, read by key, which for a batch's random old
    customers reads every row group of it.
#}
{% macro report_dimension_changes(staging, stamped, key) %}
    {%- if reports_wanted() -%}
        {%- set started = modules.datetime.datetime.now() -%}
        {%- if is_incremental() -%}
            {%- set columns = adapter.get_columns_in_relation(staging) | map(attribute='name') | reject('equalto', key) | list -%}
            {%- set differs -%}
                {%- for column in columns -%}
                    now.{{ column }} <> old.{{ column }} or (now.{{ column }} is null) <> (old.{{ column }} is null)
                    {{- ' or ' if not loop.last -}}
                {%- endfor -%}
            {%- endset -%}
            {%- if in_step_with(stamped) -%}
                {%- set old_rows = rejudged_latest_versions(stamped, 'was_latest_version') -%}
            {%- else -%}
                {%- set old_rows = 'select * from ' ~ this ~ ' where ' ~ key ~ ' in (' ~ changed(stamped, key) ~ ')' -%}
            {%- endif -%}
            {%- set counts = run_query(
                'select sum(case when old.' ~ key ~ ' is null then 1 else 0 end),'
                ~ ' sum(case when old.' ~ key ~ ' is not null and (' ~ differs ~ ') then 1 else 0 end)'
                ~ ' from (' ~ rejudged_latest_versions(stamped) ~ ') as now'
                ~ ' left join (' ~ old_rows ~ ') as old'
                ~ ' on now.' ~ key ~ ' = old.' ~ key
            ).rows[0] -%}
            {%- set new, changed_rows = counts[0] or 0, counts[1] or 0 -%}
        {%- else -%}
            {%- set new = run_query('select count(*) from ' ~ staging).columns[0].values()[0] -%}
            {%- set changed_rows = 0 -%}
        {%- endif -%}
        {{ report_to_dagster({'new_rows': new | int, 'changed_rows': changed_rows | int}, started) }}
    {%- endif -%}
{% endmacro %}
