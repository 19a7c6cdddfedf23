-- Every raw order row, parsed and repaired. `parse_reason` says why a row is unusable
-- before its content is even looked at (malformed, no id, a repeated copy); the
-- content checks (items, references) happen in int_orders_classified.

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_orders') }}

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

    -- the same payload sent again is the same event: only its first copy counts
    select
        *,
        -- identifies one order version (one distinct payload) in the models downstream
        md5(payload_text) as order_version_key,
        row_number() over (
            partition by payload_text
            order by loaded_at, load_label
        ) as copy_number
    from parsed

),

final as (

    select
        *,
        case
            when not is_object then 'malformed_json'
            when order_id is null then 'missing_id'
            when copy_number > 1 then 'duplicate'
        end as parse_reason
    from numbered

)

select * from final
