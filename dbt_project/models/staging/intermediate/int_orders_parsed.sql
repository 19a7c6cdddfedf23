-- Every raw order row once, parsed and repaired; append-only. A run takes only the raw
-- rows of loads this table does not hold yet (by load label: see
-- macros/incremental.sql for why not by loaded_at). `parse_reason` says why a row is
-- unusable before its content is even looked at (malformed, no id); repeated copies
-- and the content checks (items, references) are judged in int_orders_classified.

{{ config(materialized='incremental', incremental_strategy=append_strategy()) }}

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_orders') }}
    {% if is_incremental() %}
    where {{ unprocessed_loads(source('raw', 'raw_orders'), this) }}
    {% endif %}

),

parsed as (

    select
        load_label,
        loaded_at,
        payload,
        {{ json_text('payload') }} as payload_text,
        {{ json_is_object('payload') }} as is_object,
        {{ cast_or_null(json_str('payload', 'order_id'), 'bigint') }} as order_id,
        {{ cast_or_null(json_str('payload', 'customer_id'), 'bigint') }} as customer_id,
        -- `Shipped`, ` shipped `, `SHIPPED` are all `shipped`
        lower(trim({{ json_str('payload', 'status') }})) as status,
        {{ parse_utc_ts(json_str('payload', 'order_ts')) }} as order_ts,
        {{ parse_utc_ts(json_str('payload', 'updated_at')) }} as updated_at
    from source

),

numbered as (

    select
        *,
        -- identifies one order version (one distinct payload) in the models downstream
        md5(payload_text) as order_version_key,
        -- identical rows of one load are told apart by their copy number
        row_number() over (
            partition by load_label, payload_text order by loaded_at
        ) as copy_in_load
    from parsed

),

final as (

    select
        {{ raw_row_key() }} as row_key,
        *,
        case
            when not is_object then 'malformed_json'
            when order_id is null then 'missing_id'
        end as parse_reason,
        {{ run_stamp() }} as _parsed_at
    from numbered

)

select * from final
