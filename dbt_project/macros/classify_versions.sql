{#-
    The body of base_<entity>_classified: every parsed row of one entity with the reason
    it is set aside (`reason`, null = clean) and whether it is its id's latest clean
    version (`is_latest_version`: greatest updated_at; a quarantined row never counts).
    Each row also says whether it was that version before the run that wrote it
    (`was_latest_version`) and the model's newest stamp before that run (`_since`):
    what a downstream model needs to take in a change of latest version as a change.

    The reasons, the first that applies (docs/data_contract.md): the parse's own
    (`malformed_json`, `missing_id`); `duplicate` (a payload seen before: only its first
    copy counts); then the entity's content rules, which a model gives as a call block
    `{% call(versions, new_only, ids) classify_versions(...) %}`: a select of (row_key, content_reason)
    over the rows of the CTE named `versions`. `columns` are the entity's columns to
    carry (SQL expressions over the parsed row, `expression as name` or a column name).

    Incremental (macros/incremental.sql): a run re-judges, and the model writes again,
    every version of each id that has new parsed rows (whether a row is a
    copy, and which version is the latest, depend on the id's other versions), the new
    rows without an id, and every version of each id whose verdict for one of the
    `rejudged` reasons changes now: reasons that depend on other entities (an order's
    customer that has since arrived clean), looked at only where `rejudge_when` holds.
    Only the versions whose verdict changes pull their id in, so a reference that never
    resolves costs nothing downstream.

    The content rules are applied to the new rows and to the versions re-judged by
    reference; every other version in scope keeps the verdict it was given, which
    nothing new can change: a content verdict changes only when a reference resolves
    (the re-judged ones), and a copy judged a duplicate stays one (rows are only ever
    added to its group of identical payloads, so its copy number never falls), so a
    version that is still the first copy was judged on its content. The call block
    gets `(versions, new_only, ids)`: `new_only` when `versions` holds only rows stamped
    after this model's newest stamp; `ids`, when not none, the ids `versions` holds, as
    a list of SQL literals (see below), for the block's own lookups by id.

    `waits_for`: the name of one more column the call block may give, beside
    `content_reason`: the id of the reference a version set aside waits for (an order's
    first product without a clean version), so that `rejudge_when` can find it in this
    model's own rows instead of in the history of another. It is kept with the version
    and counts as part of its verdict: when a version is judged again and waits for
    another reference now, it is written again.

    `lookup_columns`: more columns to keep, SQL expressions over the judged row
    (`judged.reason`, `judged.<column>`) with their names, for `rejudge_when` to search
    instead of `reason` (an order's customer while it waits for that customer): null
    for almost every row, such a column is cheap to scan, where `reason` is a string.
-#}
{% macro classify_versions(parsed_model, id_column, columns, rejudged=[], rejudge_when=none, waits_for=none, lookup_columns=[]) %}
{#- The parsed model is read where it is used, never through a CTE: a CTE used twice is
    materialized whole by DuckDB (the whole history in a first build), where a direct
    read scans only the row groups the filters and joins select. `versions` is such a
    CTE, so it carries only the columns judged or kept, never the payload: copies are
    told by its digest (payload_hash), and the text of the rows set aside is read at
    the end (`set_aside_text`). -#}
{%- set parsed = ref(parsed_model) -%}
{#- The names of `columns` (`expression as name` or a column name) and the `rejudged`
    reasons as a SQL list. -#}
{%- set column_names = [] -%}
{%- for column in columns -%}
    {%- do column_names.append(column.split(' as ')[-1] | trim) -%}
{%- endfor -%}
{%- set rejudged_list = "('" ~ rejudged | join("', '") ~ "')" -%}
{#- The columns a verdict is kept in. -#}
{%- set verdict_columns = ['reason'] + ([waits_for] if waits_for else []) -%}
{%- set version_columns -%}
    parsed.row_key, parsed.load_label, parsed.loaded_at, parsed.copy_in_load, parsed.payload_hash,
    parsed.{{ id_column }}, parsed.updated_at, parsed.parse_reason, parsed._stamp
    {%- for column in columns %}, {{ column }}{% endfor %}
{%- endset -%}
{#- Re-judging by reference (incremental, `rejudged`): the ids whose verdict changes
    are found first, by queries of their own, and written into the model's SQL as
    constants, with the new rows' ids (macros/incremental.sql, static_key_parts): the
    lookups of the ids in scope then read only the row groups that hold them, where a
    lookup by subquery reads every row group between its oldest id and its newest,
    which the few old orders a late customer clears stretch over the whole history.
    First the ids with a version waiting for a reference that arrived (`rejudged_ids`);
    then, only if there are any, their set-aside versions judged again, by those ids
    as constants: the new verdicts of the ids whose verdict changes are the model's
    `set_aside_content`, as constants too (`verdict_rows`), so the content rules run
    once for them (judged again in the model, they read the ids' items a second time:
    a tenth of the model's statement at 10M orders). The re-judged ids are one more part of
    the scope (`scope_parts`), read by a select of its own, as the new ids' parts are.
    Compiled without a warehouse, they stay subqueries. -#}
{%- set rejudged_ids_cte -%}
rejudged_ids as (

    -- the ids with a version waiting for a reference that has a clean version
    -- stamped since this model's last run (`rejudge_when`: one condition per kind of
    -- reference, over the columns that name what a version waits for, null unless it
    -- does; a clean id never becomes unclean, so the others keep their verdicts).
    -- Narrow reads: the set-aside versions are many and spread over every row group,
    -- so reading their other columns for all of them reads most of the table;
    -- `set_aside` reads them for these ids only. A union, not an OR: see `versions`.
    {%- for condition in rejudge_when or [] %}
    select {{ id_column }} from {{ this }} where {{ condition }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}

)
{%- endset -%}
{%- set content_rules = caller if caller is defined else none -%}
{%- set changed_ids = none -%}
{#- Disjoint static filters over `__id__` (a placeholder, named where used) that hold
    every id in scope between them; none: no static filter. -#}
{%- set scope_parts = [] -%}
{%- if is_incremental() and execute and not offline_compile() -%}
    {%- set new_ids = 'select ' ~ id_column ~ ' from ' ~ parsed ~ ' where ' ~ stamped_after_this() ~ ' and ' ~ id_column ~ ' is not null' -%}
    {%- set new_parts = [] -%}
    {%- if rejudged -%}
        {%- set new_parts = static_key_parts('__id__', new_ids) -%}
        {%- set found = run_query(
            'with ' ~ rejudged_ids_cte ~ ' select distinct ' ~ id_column ~ ' from rejudged_ids'
        ).columns[0].values() | list -%}
        {%- set verdicts = [] -%}
        {%- if found and found | select('number') | list | length == found | length -%}
            {%- set verdicts = run_query(
                'with ' ~ rejudge_ctes(found | sort | map('string') | list, id_column, column_names, rejudged_list, verdict_columns, waits_for, content_rules)
                ~ ' ' ~ changed_verdicts(id_column, waits_for)
            ).rows | list -%}
            {%- set found = verdicts | map(attribute=1) | unique | list -%}
        {%- endif -%}
        {%- if found | select('number') | list | length == found | length -%}
            {%- set changed_ids = found | sort | map('string') | list -%}
            {%- if new_parts and changed_ids -%}
                {#- the re-judged ids that no new ids' part holds -#}
                {%- set scope_parts = new_parts + [
                    in_values('__id__', changed_ids) ~ ' and not ((' ~ new_parts | join(') or (') ~ '))'
                ] -%}
            {%- else -%}
                {%- set scope_parts = new_parts -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {#- What Dagster's reports count over this model, less the rows this run replaces
        (`earlier` below): macros/running_totals.sql. Not when the re-judged ids stay a
        subquery: the reports then count the views whole. -#}
    {%- if not rejudged or changed_ids is not none -%}
        {#- the new ids, by part; then the re-judged ids that are not new ones (an OR of
            the two sets in each part would keep DuckDB from pruning by it) -#}
        {%- set replaced = [] -%}
        {%- for part in new_parts or [none] -%}
            {%- do replaced.append(id_column ~ ' in (' ~ new_ids ~ ')' ~ (' and ' ~ part | replace('__id__', id_column) if part else '')) -%}
        {%- endfor -%}
        {%- if changed_ids -%}
            {%- do replaced.append(in_values(id_column, changed_ids) ~ ' and ' ~ id_column ~ ' not in (' ~ new_ids ~ ')') -%}
        {%- endif -%}
        {%- do note_replaced(classified_figures(), replaced) -%}
    {%- endif -%}
{%- endif -%}
with

{% if is_incremental() %}
new_rows as (

    select {{ id_column }}, row_key
    from {{ parsed }}
    where {{ stamped_after_this() }}

),

{% if rejudged %}
{%- if changed_ids is none %}
{{ rejudged_ids_cte }},

{{ rejudge_ctes(none, id_column, column_names, rejudged_list, verdict_columns, waits_for, content_rules) }},
{%- else %}
set_aside_content as (

    -- the new verdicts of the set-aside versions of the ids whose verdict changes,
    -- as the lookup above gave them
    {{ verdict_rows(verdicts, id_column, waits_for) }}

),

verdict_changed as (

    select distinct {{ id_column }} from set_aside_content

),
{%- endif %}
{% endif %}

scope_ids as (

    select distinct {{ id_column }} from new_rows where {{ id_column }} is not null
    {%- if rejudged %}
    union
    select {{ id_column }} from verdict_changed
    {%- endif %}

),

versions as (

    -- every version of each id in scope, and the new rows without an id (which have
    -- no other versions). A union, not `id in (...) or ...`: StarRocks 3.5 plans an
    -- OR of IN-subqueries as a nested-loop join. The scope's static filters are true
    -- of every joined row: with them, DuckDB reads the other columns of the matching
    -- rows only; with the join's dynamic filter alone it reads them for the whole
    -- history (x4 at 10M orders).
    {{ union_of_parts(
        'select ' ~ version_columns ~ ' from ' ~ parsed ~ ' as parsed inner join scope_ids on parsed.'
        ~ id_column ~ ' = scope_ids.' ~ id_column ~ ' where parsed.' ~ id_column ~ ' is not null',
        scope_parts | map('replace', '__id__', 'parsed.' ~ id_column) | list,
    ) }}
    union all
    select {{ version_columns }}
    from {{ parsed }} as parsed
    where parsed.{{ id_column }} is null
        and parsed.{{ stamped_after_this() }}

),

earlier as (

    -- this model's rows of the ids in scope: the verdicts they were given, whether
    -- each was its id's latest clean version, and the text kept for those set aside
    -- (static filters on the id, as in `versions`)
    {{ union_of_parts(
        'select row_key, ' ~ verdict_columns | join(', ') ~ ', is_latest_version, payload_text from ' ~ this
        ~ ' where ' ~ id_column ~ ' in (select ' ~ id_column ~ ' from scope_ids)',
        scope_parts | map('replace', '__id__', id_column) | list,
    ) }}

),
{% if caller is defined %}
new_versions as (

    select * from versions where {{ stamped_after_this() }}

),

content as (

    {{ caller('new_versions', true, none) }}
    union all
    -- the older versions in scope: the verdict they were given, or the one just
    -- given again by reference
    select
        earlier.row_key,
        {%- if rejudged %}
        case
            when set_aside_content.row_key is not null then set_aside_content.content_reason
            else earlier.reason
        end as content_reason
        {%- if waits_for %},
        case
            when set_aside_content.row_key is not null then set_aside_content.{{ waits_for }}
            else earlier.{{ waits_for }}
        end as {{ waits_for }}
        {%- endif %}
        {%- else %}
        earlier.reason as content_reason
        {%- if waits_for %}, earlier.{{ waits_for }}{% endif %}
        {%- endif %}
    from earlier
    {%- if rejudged %}
    left join set_aside_content
        on earlier.row_key = set_aside_content.row_key
    {%- endif %}

),
{% endif %}
{% else %}
versions as (

    select {{ version_columns }} from {{ parsed }} as parsed

),

{% if caller is defined %}
content as (

    {{ caller('versions', false, none) }}

),
{% endif %}
{% endif %}

repeated_payloads as (

    -- the payloads held more than once: the only rows that need numbering (a window
    -- over every version sorts the whole history in a first build)
    select payload_hash from versions group by payload_hash having count(*) > 1

),

numbered as (

    -- the same payload sent again is the same event: only its first copy counts (a
    -- null payload never parses: its copy number is never read)
    select versions.*, 1 as copy_number
    from versions
    left join repeated_payloads
        on versions.payload_hash = repeated_payloads.payload_hash
    where repeated_payloads.payload_hash is null
    union all
    select
        versions.*,
        row_number() over (
            partition by versions.payload_hash
            order by versions.loaded_at, versions.load_label, versions.copy_in_load
        ) as copy_number
    from versions
    inner join repeated_payloads
        on versions.payload_hash = repeated_payloads.payload_hash

),

judged as (

    select
        numbered.*,
        case
            when numbered.parse_reason is not null then numbered.parse_reason
            when numbered.copy_number > 1 then 'duplicate'
            {%- if caller is defined %}
            else content.content_reason
            {%- endif %}
        end as reason
        {%- if waits_for %},
        -- only while the content rules are what set it aside
        case
            when numbered.parse_reason is null and numbered.copy_number = 1 then content.{{ waits_for }}
        end as {{ waits_for }}
        {%- endif %}
    from numbered
    {%- if caller is defined %}
    left join content
        on numbered.row_key = content.row_key
    {%- endif %}

),

ranked as (

    -- the versions of each id, clean ones apart, newest first: the latest clean
    -- version ranks first among the clean ones (one window, no join back by row_key)
    select
        judged.*,
        row_number() over (
            partition by {{ id_column }}, reason is null
            order by updated_at desc, loaded_at desc, load_label desc, row_key desc
        ) as version_rank
    from judged

),

set_aside_text as (

    -- The payload text of the rows set aside, which the quarantine views show, read
    -- apart: carried through `versions`, it was sorted with every row by the windows
    -- above (a first build at 10M orders took twice as long). The parsed models keep
    -- the payload as loaded; only these rows are turned into text, and `final` keeps
    -- it for them only.
    {%- if is_incremental() %}
    -- New rows: their row groups only, by stamp.
    select parsed.row_key, {{ json_text('parsed.payload') }} as payload_text
    from {{ parsed }} as parsed
    where parsed.{{ stamped_after_this() }}
    union all
    -- Older versions already set aside: the text this model kept.
    select row_key, payload_text from earlier where reason is not null
    union all
    -- Older clean versions set aside only now (a copy loaded late, with an earlier
    -- loaded_at): rare, found by row_key.
    select parsed.row_key, {{ json_text('parsed.payload') }} as payload_text
    from {{ parsed }} as parsed
    inner join (
        select judged.row_key
        from judged
        inner join earlier
            on judged.row_key = earlier.row_key
        where judged.reason is not null
            and earlier.reason is null
    ) as newly_set_aside
        on parsed.row_key = newly_set_aside.row_key
    {%- else %}
    select parsed.row_key, {{ json_text('parsed.payload') }} as payload_text
    from {{ parsed }} as parsed
    inner join (select row_key from judged where reason is not null) as set_aside_rows
        on parsed.row_key = set_aside_rows.row_key
    {%- endif %}

),

final as (

    select
        judged.row_key,
        judged.load_label,
        judged.loaded_at,
        case when judged.reason is not null then set_aside_text.payload_text end as payload_text,
        judged.{{ id_column }},
        {%- for name in column_names %}
        judged.{{ name }},
        {%- endfor %}
        judged.updated_at,
        judged.reason,
        {%- if waits_for %}
        judged.{{ waits_for }},
        {%- endif %}
        {%- for expression in lookup_columns %}
        {{ expression }},
        {%- endfor %}
        (judged.reason is null and judged.version_rank = 1) as is_latest_version,
        {#- What a downstream model needs to take in a change of latest version as a
            change (int_daily_sales): whether the row was its id's latest clean version
            before this run, and this model's newest stamp before this run (null: a
            first build, which knows no earlier state). #}
        {%- if is_incremental() %}
        coalesce(earlier.is_latest_version, false) as was_latest_version,
        {{ newest_stamp() }} as _since,
        {%- else %}
        false as was_latest_version,
        cast(null as {{ timestamp_type() }}) as _since,
        {%- endif %}
        {{ run_stamp() }} as _stamp
    from ranked as judged
    left join set_aside_text
        on judged.row_key = set_aside_text.row_key
    {%- if is_incremental() %}
    left join earlier
        on judged.row_key = earlier.row_key
    {%- endif %}

)

{# In id order: a batch's ids, mostly recent, are then read from the row groups that hold them. #}
select * from final
{{ write_order(id_column) }}
{% endmacro %}


{#- classify_versions' CTEs that re-judge the set-aside versions (`set_aside`,
    `set_aside_content`, `verdict_changed`), for the ids `ids` (a list of SQL literals)
    or, when none, those of the CTE `rejudged_ids`; `content_rules` is its call block. -#}
{% macro rejudge_ctes(ids, id_column, column_names, rejudged_list, verdict_columns, waits_for, content_rules) -%}
set_aside as (

    -- their versions set aside for those reasons, the only ones whose verdict can
    -- change; the columns the content rules read
    select row_key, classified.{{ id_column }}, {{ verdict_columns | join(', ') }}
        {%- for name in column_names %}, {{ name }}{% endfor %}
    from {{ this }} as classified
    {%- if ids is none %}
    -- A join, not an IN-subquery: DuckDB then filters this scan by the ids found; it
    -- read every version set aside for the IN-subquery first (twice the time at 10M).
    inner join (select distinct {{ id_column }} from rejudged_ids) as rejudged
        on classified.{{ id_column }} = rejudged.{{ id_column }}
    {%- endif %}
    where reason is not null
        and reason in {{ rejudged_list }}
        {%- if ids is not none %}
        and {{ in_values(id_column, ids) }}
        {%- endif %}

),

set_aside_content as (

    {{ content_rules('set_aside', false, ids) }}

),

verdict_changed as (

    select set_aside.{{ id_column }}
    from set_aside
    left join set_aside_content
        on set_aside.row_key = set_aside_content.row_key
    where {{ verdict_changes(waits_for) }}

)
{%- endmacro %}


{#- The select that follows rejudge_ctes in the lookup of the changed verdicts: the new
    verdict of each set-aside version of the ids whose verdict changes (row_key as
    text, id, content_reason[, waits_for]). -#}
{% macro changed_verdicts(id_column, waits_for) -%}
    select row_key, {{ id_column }}, content_reason{{ ', ' ~ waits_for if waits_for }}
    from (
        -- one pass over the CTEs (verdict_changed would judge them again)
        select
            cast(set_aside.row_key as {{ dbt.type_string() }}) as row_key,
            set_aside.{{ id_column }},
            set_aside_content.content_reason,
            {%- if waits_for %}
            set_aside_content.{{ waits_for }},
            {%- endif %}
            max(case when {{ verdict_changes(waits_for) }} then 1 else 0 end)
                over (partition by set_aside.{{ id_column }}) as id_changes
        from set_aside
        left join set_aside_content
            on set_aside.row_key = set_aside_content.row_key
    ) as verdicts
    where id_changes = 1
{%- endmacro %}

{#- Whether a set-aside version's verdict (`set_aside`) differs from the one it is given
    again (`set_aside_content`). -#}
{% macro verdict_changes(waits_for) -%}
    set_aside.reason <> coalesce(set_aside_content.content_reason, 'clean')
    {%- if waits_for %}
        or coalesce(set_aside.{{ waits_for }}, -1) <> coalesce(set_aside_content.{{ waits_for }}, -1)
    {%- endif %}
{%- endmacro %}


{#- `rows` (as changed_verdicts gives them) as a select of constants with the columns
    of `set_aside_content` and the id (no rows: an empty select of them). Only numbers
    (a row_key is signed on StarRocks) and the reasons' words become SQL text. -#}
{% macro verdict_rows(rows, id_column, waits_for) -%}
    {%- set selects = [] -%}
    {#- none: the one select of nulls that no rows make -#}
    {%- for row in rows or [none] -%}
        {%- set values = ['null', 'null', 'null', 'null'] -%}
        {%- if row is not none -%}
            {%- if not modules.re.fullmatch('-?[0-9]+', row[0] | string) or row[1] is not number
                or (row[2] is not none and not modules.re.fullmatch('[a-z_]+', row[2]))
                or (waits_for and row[3] is not none and row[3] is not number) -%}
                {%- do exceptions.raise_compiler_error('unexpected verdict row: ' ~ row) -%}
            {%- endif -%}
            {%- set values = [
                "'" ~ row[0] ~ "'",
                row[1] | string,
                "'" ~ row[2] ~ "'" if row[2] is not none else 'null',
                row[3] | string if waits_for and row[3] is not none else 'null',
            ] -%}
        {%- endif -%}
        {%- do selects.append(
            'select ' ~ row_key_literal(values[0]) ~ ' as row_key'
            ~ ', cast(' ~ values[1] ~ ' as ' ~ dbt.type_bigint() ~ ') as ' ~ id_column
            ~ ', cast(' ~ values[2] ~ ' as ' ~ dbt.type_string() ~ ') as content_reason'
            ~ (', cast(' ~ values[3] ~ ' as ' ~ dbt.type_bigint() ~ ') as ' ~ waits_for if waits_for else '')
            ~ (' where 1 = 0' if row is none else '')
        ) -%}
    {%- endfor -%}
    {{ selects | join(' union all ') }}
{%- endmacro %}


{#- What the views over a base_<entity>_classified model count, kept as running totals
    for Dagster's reports (macros/running_totals.sql): stg_<entity> holds its latest
    clean versions, quarantine_<entity> its rows set aside. -#}
{% macro classified_figures() -%}
    {{ return({
        'latest_versions': 'sum(case when is_latest_version then 1 else 0 end)',
        'set_aside': 'sum(case when reason is not null then 1 else 0 end)',
    }) }}
{%- endmacro %}


{#- The body of quarantine_<entity>: the rows of `classified_model` set aside, with the
    reason. A view: a row's verdict can change (a customer that arrives later clears an
    order; a copy loaded late with an earlier loaded_at makes a row the duplicate), so
    this is never a second copy that could drift. -#}
{% macro quarantined_rows(classified_model) %}
select load_label, loaded_at, reason, payload_text
from {{ ref(classified_model) }}
where reason is not null
{% endmacro %}
