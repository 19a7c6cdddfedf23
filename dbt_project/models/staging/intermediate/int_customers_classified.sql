-- Every raw customer row, parsed and repaired, with the reason it is set aside
-- (`reason` is null for a clean row). stg_customers and quarantine_customers read this.

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_customers') }}

),

parsed as (

    select
        load_label,
        loaded_at,
        {{ json_text('payload') }} as payload_text,
        {{ json_is_object('payload') }} as is_object,
        {{ cast_or_null(json_str('payload', 'customer_id'), 'bigint') }} as customer_id,
        trim({{ json_str('payload', 'first_name') }}) as first_name,
        trim({{ json_str('payload', 'last_name') }}) as last_name,
        lower(trim({{ json_str('payload', 'email') }})) as email,
        trim({{ json_str('payload', 'city') }}) as city,
        {{ json_str('payload', 'country') }} as country,
        {{ parse_utc_ts(json_str('payload', 'signup_ts')) }} as signup_ts,
        {{ parse_utc_ts(json_str('payload', 'updated_at')) }} as updated_at
    from source

),

numbered as (

    -- the same payload sent again is the same event: only its first copy counts
    select
        *,
        row_number() over (
            partition by payload_text
            order by loaded_at, load_label
        ) as copy_number
    from parsed

),

classified as (

    select
        *,
        case
            when not is_object then 'malformed_json'
            when customer_id is null then 'missing_id'
            when copy_number > 1 then 'duplicate'
        end as reason
    from numbered

)

select * from classified
