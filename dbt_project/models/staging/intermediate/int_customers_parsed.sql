-- Every raw customer row once, parsed and repaired; append-only. A run takes only
-- the raw rows of loads this table does not hold yet (by load label: see
-- macros/incremental.sql for why not by loaded_at).

{{ config(materialized='incremental', incremental_strategy=append_strategy()) }}

with

source as (

    select load_label, loaded_at, payload
    from {{ source('raw', 'raw_customers') }}
    {% if is_incremental() %}
    where {{ unprocessed_loads(source('raw', 'raw_customers'), this) }}
    {% endif %}

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
