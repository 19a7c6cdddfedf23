-- Every raw product row, parsed and repaired, with the reason it is set aside
-- (`reason` is null for a clean row). stg_products and quarantine_products read this.

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_products') }}

),

parsed as (

    select
        load_label,
        loaded_at,
        {{ json_text('payload') }} as payload_text,
        {{ json_is_object('payload') }} as is_object,
        {{ cast_or_null(json_str('payload', 'product_id'), 'bigint') }} as product_id,
        trim({{ json_str('payload', 'name') }}) as product_name,
        {{ json_str('payload', 'category') }} as category,
        -- a price sent as a string ("12.50") converts like a number does
        {{ cast_or_null(json_str('payload', 'unit_price'), 'decimal(12, 2)') }} as unit_price,
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
            when product_id is null then 'missing_id'
            when copy_number > 1 then 'duplicate'
        end as reason
    from numbered

)

select * from classified
