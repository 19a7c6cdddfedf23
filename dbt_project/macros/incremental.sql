{#
    How the models take in only what is new. This is the one place that says it.

    Where the state lives: in the base models (models/staging/base), the intermediate
    model (models/intermediate) and the dimensions, in their own rows. The contract's
    staging tables and fact_daily_sales are views of the first two; there is no other
    bookkeeping table (`report_totals` holds only what Dagster's reports show of the
    views, and is counted again whenever it cannot vouch for them:
    macros/running_totals.sql). Nothing a batch pays reads the whole history: the data
    tests look at the keys the latest build touched too (macros/batch_scope.sql).

    The rule: a model takes in the batches of its input that it has not taken in yet.
    What it has taken in is read off its own rows before it runs, and written into its
    SQL as constants (so the warehouse skips the rest of the input by its min/max
    statistics instead of reading the whole history).

    - Input is a model: a batch is a dbt run (`stamped_after_this()`). Every row a model
      writes carries `_stamp`, the start of the run that (re)wrote it (`run_stamp()`).
      Runs on one warehouse follow each other (Dagster's `warehouse` pool holds one)
      and within a run a model runs after its inputs, so "not taken in yet" is
      "stamped after the newest `_stamp` this model holds".
    - Input is a raw table (base_*_parsed only): a batch is a load, named by its label
      (`loads_not_in_this()`). Loads are stamped by their writers, not by us, and a
      load may commit late with an earlier `loaded_at` (a retried or concurrent
      writer), so no time orders them: "not taken in yet" is "a label this model does
      not hold". A load is atomic per label (Stream Load label / DuckDB transaction)
      and an insert-select reads one snapshot, so a label is wholly in or not at all.

    What a model does with its new input: it works out everything that input touches,
    and writes it again with the current stamp, so its own downstream sees it as new:
    - base_*_parsed and base_order_items append (a raw row is parsed once);
    - base_*_classified replace every version of each id that has new rows
      (macros/classify_versions.sql says why the whole id): by id on DuckDB, by
      row_key (the Primary Key) on StarRocks;
    - base_order_lines deletes the orders the new input touches (`delete_changed()`, a
      pre-hook) and inserts them recomputed, so a line that no longer exists goes;
    - int_daily_sales adds to the (day, product) pairs the change of each order whose
      latest version changed (`was_latest_version`, when it is `in_step_with()` its
      input), or else deletes and recomputes the days touched, as base_order_lines
      does the orders (models/intermediate/int_daily_sales.sql);
    - dim_customers and dim_products upsert, by id, the latest version of each id
      their base_*_classified re-judged (an id never leaves staging once clean).
    Writing is each adapter's default incremental strategy: dbt-duckdb deletes the rows
    of the model's `unique_key` (when it has one) then inserts; dbt-starrocks inserts,
    which into a Primary Key table is an upsert. int_daily_sales, keyed by two
    columns, deletes on DuckDB by `replace_by_key` (below), which prunes by the keys'
    values as constants. On DuckDB the models that are looked
    up by order or day write their rows in that key's order (`write_order()`), and the
    parsed models keep load order: what a batch touches is mostly recent, so a lookup
    of its keys reads the row groups at the end of the table, not the whole history.

    Why a killed build never leaves a wrong table: a model's state is its rows, so it
    commits with them (on DuckDB the pre-hook delete is in the same transaction). On
    StarRocks a delete may commit without its insert: that leaves the newest stamp
    where it was (or lower, and an order or day re-taken from there has no rows left
    to double), so the next run takes the same input in again.
    `dbt build --full-refresh` gives the same tables (retail_platform_tests/test_incremental.py).
    Changing a model's columns needs one `--full-refresh` of it and of what is downstream
    of it (`--select model+`): a model rebuilt alone restamps every row, which its
    downstream would take in again as new (base_order_items would hold its items twice).
#}


{#- The start of this dbt run: the stamp of every row it writes. -#}
{% macro run_stamp() -%}
    {{ stamp_literal(run_started_at) }}
{%- endmacro %}

{% macro stamp_literal(moment) -%}
    cast('{{ moment if moment is string else moment.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ timestamp_type() }})
{%- endmacro %}

{#- A filter on a model input: its rows stamped after the newest stamp this model holds. -#}
{% macro stamped_after_this() -%}
    _stamp > {{ newest_stamp() }}
{%- endmacro %}

{#- The newest `_stamp` of `relation` (by default this model's), as a literal. -#}
{% macro newest_stamp(relation=none) -%}
    {%- set relation = relation or this -%}
    {%- set lookup = 'select max(_stamp) from ' ~ relation -%}
    {%- set epoch = stamp_literal('1970-01-01 00:00:00') -%}
    {%- if offline_compile() -%}
        coalesce(({{ lookup }}), {{ epoch }})
    {%- else -%}
        {#- Asked once per rendering context (a model's SQL; its hooks), which asks it
            a dozen times, each answer a query. So a post-hook gets
            the newest stamp from before the model wrote. -#}
        {%- set asked = model.setdefault('newest_stamps', {}) -%}
        {%- if relation | string not in asked -%}
            {%- do asked.update({relation | string: newest_stamp_value(relation) if execute else none}) -%}
        {%- endif -%}
        {%- set newest = asked[relation | string] -%}
        {{ stamp_literal(newest) if newest is not none else epoch }}
    {%- endif -%}
{%- endmacro %}

{#- The newest `_stamp` of `relation`, asked of the warehouse (none: no rows). -#}
{% macro newest_stamp_value(relation) -%}
    {{ return(adapter.dispatch('newest_stamp_value', 'retail')(relation)) }}
{%- endmacro %}

{% macro default__newest_stamp_value(relation) -%}
    {{ return(run_query('select max(_stamp) from ' ~ relation).columns[0].values()[0]) }}
{%- endmacro %}

{#- On DuckDB max(_stamp) reads the whole stamp column: 7 ms at 10M orders, asked ~30
    times a build, and growing with the history. The column's statistics bound the
    newest stamp from above (DuckDB raises the bound as rows are added, and a delete
    never lowers it), and the rows at or above the bound lie in the last row groups
    only: their greatest stamp is the newest (2 ms, whatever the history; the
    subquery's result prunes the scan as a dynamic filter). None are left when the
    rows at the bound were deleted since, or the table is empty: then the column is
    read whole. -#}
{% macro duckdb__newest_stamp_value(relation) -%}
    {%- set bound = 'select cast(stats(_stamp).max as ' ~ timestamp_type() ~ ') from ' ~ relation ~ ' limit 1' -%}
    {%- set newest = run_query(
        'select max(_stamp) from ' ~ relation ~ ' where _stamp >= (' ~ bound ~ ')'
    ).columns[0].values()[0] -%}
    {%- if newest is none -%}
        {%- set newest = default__newest_stamp_value(relation) -%}
    {%- endif -%}
    {{ return(newest) }}
{%- endmacro %}

{#- A filter on a raw table: its rows of loads this model does not hold yet. The new
    labels are looked up first (label and loaded_at columns only). Only labels of the
    load-label charset are written into SQL; any other value (a foreign writer's) keeps
    the subquery form, so no data ever becomes SQL text. A label committed after the
    lookup waits for the next run.

    The lookup reads the recent rows only: a parsed model holds one row per raw row it
    took in, so the rows it lacks are counted from the two tables' row counts (table
    metadata on DuckDB), and a window of recent loads that holds that many new rows
    holds them all. The window starts at the newest loaded_at this model holds (a new
    load is normally stamped after it), then an hour earlier (a writer that stamped
    its load before another's commit); a load later still is found by a lookup over
    the whole table, as is any count that does not add up (rows deleted from raw). -#}
{% macro loads_not_in_this(raw_table) -%}
    {%- set lookup -%}
        select distinct load_label from {{ raw_table }}
        where load_label not in (select distinct load_label from {{ this }})
    {%- endset -%}
    {#- the first answer that holds every row this model lacks (a list: `set` in a
        loop does not outlive it) -#}
    {%- set complete = [] -%}
    {%- if execute and not offline_compile() -%}
        {%- set newest = run_query('select max(loaded_at) from ' ~ this).columns[0].values()[0] -%}
        {%- set windows = [newest, newest - modules.datetime.timedelta(hours=1)] if newest is not none else [] -%}
        {%- for start in windows + [none] -%}
            {%- if not complete -%}
                {%- set answer = run_query(new_loads_since(raw_table, start)) -%}
                {%- set missing = answer.columns[3].values() | reject('none') | list -%}
                {%- if start is none or (missing and answer.columns[1].values() | sum == missing[0]) -%}
                    {#- every row but the count's (label null); an empty label stays, and
                        keeps the subquery form below -#}
                    {%- do complete.append(answer.rows | rejectattr(0, 'none') | list) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set found = complete[0] if complete else none -%}
    {%- set labels = found | map(attribute=0) | list if found is not none else [] -%}
    {%- set safe = [] -%}
    {%- for label in labels if label is string and modules.re.fullmatch('[A-Za-z0-9_]{1,128}', label) -%}
        {%- do safe.append(label) -%}
    {%- endfor -%}
    {%- if found is none or safe | length < labels | length -%}
        load_label in ({{ lookup }})
    {%- elif labels -%}
        {#- Labels share their first bytes, which is all a string's min/max statistics
            keep: the earliest loaded_at of the new loads is what lets the warehouse
            skip the older rows. -#}
        loaded_at >= {{ stamp_literal(found | map(attribute=2) | min) }}
        {%- set quoted = [] -%}
        {%- for label in safe | sort -%}
            {%- do quoted.append("'" ~ label ~ "'") -%}
        {%- endfor %}
        and {{ in_values('load_label', quoted) }}
    {%- else -%}
        1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The loads of `raw_table` with rows stamped from `start` on (none: all) that this
    model does not hold: (label, rows from `start` on, earliest loaded_at), and one
    more row (label null) with the number of raw rows this model lacks, counted in the
    same snapshot. -#}
{% macro new_loads_since(raw_table, start) -%}
    {%- set since = ' where loaded_at >= ' ~ stamp_literal(start) if start is not none else '' -%}
    select load_label, count(*), min(loaded_at), null
    from {{ raw_table }}{{ since }}
    {{- ' and' if since else ' where' }} load_label not in (select distinct load_label from {{ this }}{{ since }})
    group by load_label
    union all
    select null, 0, null, (select count(*) from {{ raw_table }}) - (select count(*) from {{ this }})
{%- endmacro %}


{#- The distinct `column` values of `input`'s rows stamped after this model's newest:
    what its new input touches (orders, days). -#}
{% macro changed(input, column) -%}
    select distinct {{ column }}
    from {{ input }}
    where {{ stamped_after_this() }}
        and {{ column }} is not null
{%- endmacro %}

{#- The latest clean version of each id that `classified` (a base_*_classified model)
    re-judged since this model's newest stamp: what stg_<entity> holds of those ids
    (`which`: `is_latest_version`), or held before that model's run
    (`was_latest_version`). A re-judged id has every version written again with the
    new stamp, so both are among the rows stamped since, which the warehouse finds by
    their stamps; looked up by id instead, random ids (customers) read every row. -#}
{% macro rejudged_latest_versions(classified, which='is_latest_version') -%}
    select * from {{ classified }} where {{ stamped_after_this() }} and {{ which }}
{%- endmacro %}

{#- Static filters to put beside a lookup `column in (keys)` (a subquery of one
    column): the same rows, but in a form the warehouse prunes by min/max statistics
    (DuckDB's row groups, StarRocks' tablets), which it cannot do with the subquery
    alone (DuckDB prunes by the subquery's min and max, as wide as its oldest key).
    A batch's keys are mostly recent and dense, plus a few old ones scattered over the
    history (old orders a late customer clears, and their days): the keys from the
    `few + 1`-th smallest up become a range, the smaller ones constants. DuckDB prunes
    by neither side of an OR of the two (at 10M orders a lookup then read its column
    whole), so they are two parts, disjoint, each read by a select of its own
    (`union_of_parts`). A list of conditions over `column`: one, `1 = 0`, when there
    are no keys; none for other types than numbers and dates, and when compiling
    without a warehouse. The keys are asked once per node (a model's SQL and its hooks
    ask for the same ones: int_daily_sales four times), as newest_stamp() is. -#}
{% macro static_key_parts(column, keys, few=256) -%}
    {%- if not execute or offline_compile() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set asked = model.setdefault('smallest_keys', {}) -%}
    {%- set question = keys ~ ' limit ' ~ (few + 1) -%}
    {%- if question not in asked -%}
        {%- do asked.update({question: run_query(
            'select * from (' ~ keys ~ ') as k order by 1 limit ' ~ (few + 1)
        ).columns[0].values() | reject('none') | list}) -%}
    {%- endif -%}
    {%- set smallest = asked[question] -%}
    {%- set literals = [] -%}
    {%- for key in smallest -%}
        {%- if key is number -%}
            {%- do literals.append(key | string) -%}
        {%- elif key.isoformat is defined and key.hour is not defined -%}
            {%- do literals.append("cast('" ~ key.isoformat() ~ "' as date)") -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if literals | length < smallest | length -%}
        {{ return([]) }}
    {%- elif not literals -%}
        {{ return(['1 = 0']) }}
    {%- elif literals | length > few -%}
        {#- the keys need not be distinct: the constants are the ones below the range -#}
        {{ return([
            column ~ ' >= ' ~ literals[few],
            in_values(column, literals[:few]) ~ ' and ' ~ column ~ ' < ' ~ literals[few],
        ]) }}
    {%- else -%}
        {{ return([in_values(column, literals)]) }}
    {%- endif -%}
{%- endmacro %}

{#- `select` (a query that ends in its where clause) once per part of `parts` (disjoint
    conditions, as static_key_parts gives; none: once, as it is): their union. -#}
{% macro union_of_parts(select, parts) -%}
    {%- for part in parts or [none] %}
    {{ select }}{{ ' and ' ~ part if part }}
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The rows of this model whose `column` the new rows of `input` touch: disjoint
    conditions, one per static part (`parts`, when the caller has them). -#}
{% macro changed_rows(input, column, parts=none) -%}
    {%- set keys = changed(input, column) -%}
    {%- set conditions = [] -%}
    {%- for part in (static_key_parts(column, keys) if parts is none else parts) or [none] -%}
        {%- do conditions.append(column ~ ' in (' ~ keys ~ ')' ~ (' and ' ~ part if part else '')) -%}
    {%- endfor -%}
    {{ return(conditions) }}
{%- endmacro %}

{#- Pre-hook: on an incremental run, delete this model's rows of what its new input
    touches, so the model inserts them whole again. StarRocks takes DELETE ... WHERE
    col IN (subquery) on Primary Key tables only: these models are ones. -#}
{% macro delete_changed(input, column) -%}
    {%- if is_incremental() -%}
        {%- set keys = changed(input, column) %}
        {{ adapter.dispatch('delete_where', 'retail')(this, column ~ ' in (' ~ keys ~ ')', static_key_parts(column, keys)) }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: the running totals (macros/running_totals.sql) of this model's rows whose
    `column` the new rows of `input` touch, before the run rewrites some of them. -#}
{% macro note_changed(input, column, figures) -%}
    {%- if is_incremental() -%}
        {%- do note_replaced(figures, changed_rows(input, column)) -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether this model can take in the rows `input` (a base_*_classified model) stamped
    after this model's newest stamp as changes (int_daily_sales; the dimensions'
    reports, macros/dagster_metadata.sql): when each was
    written by a run of `input` that followed this model's newest stamp (`_since`,
    macros/classify_versions.sql), their `was_latest_version` says what this model
    holds. Not after a run of `input` this model did not follow (it failed, was left
    out, or wrote nothing), nor after a first build of `input`. Asked once per run, so
    the hooks get the model's answer; false when compiling without a warehouse. -#}
{% macro in_step_with(input) -%}
    {%- if not is_incremental() or offline_compile() or not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set asked = model.setdefault('in_step', {}) -%}
    {%- if input | string not in asked -%}
        {%- set strays = run_query(
            'select count(*) from ' ~ input ~ ' where ' ~ stamped_after_this()
            ~ ' and (_since is null or _since <> ' ~ newest_stamp() ~ ')'
        ).columns[0].values() -%}
        {%- do asked.update({input | string: strays | length == 1 and strays[0] == 0}) -%}
    {%- endif -%}
    {{ return(asked[input | string]) }}
{%- endmacro %}

{#- Pre-hook: delete the rows whose `column` is 0 that an earlier run wrote (a key
    whose figures all went, int_daily_sales); not the newest run's, whose stamp is
    what this model has taken in (macros/incremental.sql). -#}
{% macro delete_zero_rows(column) -%}
    {%- if is_incremental() %}
    delete from {{ this }} where {{ column }} = 0 and {{ '_stamp < ' ~ newest_stamp() }}
    {%- endif -%}
{%- endmacro %}

{#- The incremental strategy of models written by key (`unique_key`): on DuckDB,
    `replace_by_key`; elsewhere the adapter's default (StarRocks: an insert into a
    Primary Key table, an upsert). -#}
{% macro write_by_key() -%}
    {{ return('replace_by_key' if target.type == 'duckdb' else 'default') }}
{%- endmacro %}

{#- DuckDB: delete the rows of the keys the new rows hold, then insert the new rows,
    as dbt-duckdb's delete+insert does, but with the first key's values as static
    filters too (static_key_parts): its join reads the whole table, since a batch's
    keys span from its oldest to its newest. -#}
{% macro get_incremental_replace_by_key_sql(arg_dict) -%}
    {%- set keys = [arg_dict.unique_key] if arg_dict.unique_key is string else arg_dict.unique_key -%}
    {%- set source = arg_dict.temp_relation -%}
    {%- set columns = get_quoted_csv(arg_dict.dest_columns | map(attribute='name')) -%}
    {%- set key_list = keys | join(', ') -%}
    {{ adapter.dispatch('delete_where', 'retail')(
        arg_dict.target_relation,
        '(' ~ key_list ~ ') in (select ' ~ key_list ~ ' from ' ~ source ~ ')',
        static_key_parts(keys[0], 'select ' ~ keys[0] ~ ' from ' ~ source),
    ) }};
    insert into {{ arg_dict.target_relation }} ({{ columns }})
    select {{ columns }} from {{ source }}
{%- endmacro %}

{#- Delete the rows of `relation` where `condition` and one of `parts` (disjoint static
    filters, as static_key_parts gives) hold. DuckDB: a statement a part, which it
    prunes by (see static_key_parts). -#}
{% macro duckdb__delete_where(relation, condition, parts) -%}
    {%- for part in parts or [none] %}
    delete from {{ relation }} where {{ condition }}{{ ' and ' ~ part if part }}{{ ';' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- StarRocks runs one statement a call, and plans an OR of IN-subqueries as a
    nested-loop join: the parts in an OR of their own. -#}
{% macro default__delete_where(relation, condition, parts) -%}
    delete from {{ relation }} where {{ condition }}
    {%- if parts %} and (({{ parts | join(') or (') }})){% endif %}
{%- endmacro %}


{#-
    dbt's is_incremental(), except when dbt compiles without a warehouse
    (`dbt compile --no-populate-cache`: the StarRocks SQL check, with no server). There
    it never asks the warehouse (dbt's would connect): it renders the first build's SQL,
    or with `--vars '{assume_incremental: true}'` the incremental SQL, whose lookups
    above then stay subqueries.
-#}
{% macro is_incremental() -%}
    {%- if execute and offline_compile() -%}
        {{ return(var('assume_incremental', false) and model.config.materialized == 'incremental' and not should_full_refresh()) }}
    {%- else -%}
        {{ return(dbt.is_incremental()) }}
    {%- endif -%}
{%- endmacro %}

{% macro offline_compile() -%}
    {{ return(flags.WHICH == 'compile' and not flags.POPULATE_CACHE) }}
{%- endmacro %}
