-- Every raw product row once, parsed and repaired; append-only. A run takes only
-- the raw rows of loads this table does not hold yet (by load label: see
-- macros/incremental.sql for why not by loaded_at).

{{ config(materialized='incremental', incremental_strategy=append_strategy()) }}

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_products') }}
    {% if is_incremental() %}
    where {{ unprocessed_loads(source('raw', 'raw_products'), this) }}
    {% endif %}

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

    -- identical rows of one load are told apart by their copy number
    select
        *,
        row_number() over (
            partition by load_label, payload_text order by loaded_at
        ) as copy_in_load
    from parsed

),

final as (

    select
        {{ raw_row_key() }} as row_key,
        *,
        {{ run_stamp() }} as _parsed_at
    from numbered

)

select * from final
