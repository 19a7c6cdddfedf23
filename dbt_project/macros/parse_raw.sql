{#-
    The body of base_<entity>_parsed: every row of the raw table `raw_table` once,
    parsed and repaired; append-only, taking in the loads it does not hold yet
    (macros/incremental.sql).

    The model names the payload keys its entity reads (`keys`) and gives its own
    columns as a call block over their values as text:
    `{% call(payload) parse_raw('raw_customers', 'customer_id', ['city']) %}
    trim({{ payload['city'] }}) as city {% endcall %}` (each payload is parsed once for
    all its keys: cross_db/json.sql, json_strs). Every entity gets the same around them:
      row_key        one raw row (a digest of its load, its payload and which identical
                     copy in the load it is)
      load_label, loaded_at, payload (as loaded; read again for order items, and for
                     the text of the rows set aside)
      payload_hash   the digest of the payload as loaded: identical payloads share it
                     (copies). Digested as stored, not as parsed text: no JSON parse;
                     a copy is the same payload loaded again (docs/data_contract.md).
      is_object
      <id_column>    the entity's id
      updated_at     the version's time (UTC)
      copy_in_load   identical rows of one load told apart
      parse_reason   why the row is unusable before its content is even looked at
                     (`malformed_json`, `missing_id`), null when it parsed
      _stamp         the run that parsed it
-#}
{% macro parse_raw(raw_table, id_column, keys) %}
{#- The raw rows taken in, as a subquery read where it is used: a CTE used twice is
    materialized whole by DuckDB (every payload, in a first build). -#}
{%- set new_loads = loads_not_in_this(source('raw', raw_table)) if is_incremental() else none -%}
{%- set payload_strs = json_strs('payload', [id_column, 'updated_at'] + keys) -%}
{#- `payload_bucket`, a fast hash of the payload as stored, only finds the payloads a
    load may hold twice: equal payloads share it, so a collision only numbers a few
    more rows. The digest kept (`payload_hash`, an MD5: the slowest step of a first
    build) is then taken once per row, after the split; the subquery is read three
    times. -#}
{%- set source_rows -%}
    (
        select
            load_label,
            loaded_at,
            payload,
            {{ fast_hash('cast(payload as varchar)') }} as payload_bucket
        from {{ source('raw', raw_table) }}
        {%- if new_loads %}
        where {{ new_loads }}
        {%- endif %}
    ) as source
{%- endset -%}
{%- set payload_hash = text_hash('cast(source.payload as varchar)') -%}
with

repeated as (

    -- the payloads a load may hold more than once: the only rows that need numbering
    select load_label, payload_bucket
    from {{ source_rows }}
    group by load_label, payload_bucket
    having count(*) > 1

),

numbered as (

    -- Only the repeated payloads go through the window: it sorts what it numbers, and
    -- the rest keep the order they were loaded in, so the row groups' min/max of an id
    -- stay narrow and a later filter on the ids of a batch skips the history.
    select source.load_label, source.loaded_at, source.payload, {{ payload_hash }} as payload_hash, 1 as copy_in_load
    from {{ source_rows }}
    left join repeated
        on source.load_label = repeated.load_label
        and source.payload_bucket = repeated.payload_bucket
    where repeated.payload_bucket is null
    union all
    select
        load_label,
        loaded_at,
        payload,
        payload_hash,
        row_number() over (
            partition by load_label, payload_hash order by loaded_at
        ) as copy_in_load
    from (
        select source.load_label, source.loaded_at, source.payload, {{ payload_hash }} as payload_hash
        from {{ source_rows }}
        inner join repeated
            on source.load_label = repeated.load_label
            and source.payload_bucket = repeated.payload_bucket
    ) as candidates

),

parsed as (

    select
        load_label,
        loaded_at,
        payload,
        payload_hash,
        copy_in_load,
        {{ json_is_object('payload') }} as is_object,
        {{ cast_or_null(payload_strs['values'][id_column], 'bigint') }} as {{ id_column }},
        {{ caller(payload_strs['values']) | trim | indent(8) }},
        {{ parse_utc_ts(payload_strs['values']['updated_at']) }} as updated_at
    from (
        select *{% if payload_strs['extract'] %}, {{ payload_strs['extract'] }}{% endif %} from numbered
    ) as numbered

),

final as (

    select
        {{ raw_row_key('load_label', 'payload', 'payload_hash', 'copy_in_load') }} as row_key,
        *,
        case
            when not is_object then 'malformed_json'
            when {{ id_column }} is null then 'missing_id'
        end as parse_reason,
        {{ run_stamp() }} as _stamp
    from parsed

)

select * from final
{% endmacro %}
