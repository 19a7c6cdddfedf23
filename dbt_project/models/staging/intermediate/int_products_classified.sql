-- Every raw product row with the reason it is set aside (`reason` is null for a clean
-- row). stg_products and quarantine_products read this.
--
-- Incremental: a run re-judges every version of each product that has new raw rows
-- (whether a row is a repeated copy depends on the product's earlier rows), plus the new
-- rows without an id, and upserts them by row_key.

{{ config(materialized='incremental', unique_key='row_key', incremental_strategy=upsert_strategy()) }}

with

parsed as (

    select * from {{ ref('int_products_parsed') }}

),

{% if is_incremental() %}
new_rows as (

    select product_id, row_key
    from parsed
    where _parsed_at > {{ max_stamp(this, '_parsed_at') }}

),

scope as (

    select * from parsed
    where product_id in (select product_id from new_rows where product_id is not null)
        or row_key in (select row_key from new_rows where product_id is null)

),
{% else %}
scope as (

    select * from parsed

),
{% endif %}

numbered as (

    -- the same payload sent again is the same event: only its first copy counts
    select
        *,
        row_number() over (
            partition by payload_text
            order by loaded_at, load_label, copy_in_load
        ) as copy_number
    from scope

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

),

final as (

    select
        row_key,
        load_label,
        loaded_at,
        payload_text,
        product_id,
        product_name,
        category,
        unit_price,
        updated_at,
        reason,
        _parsed_at,
        {{ run_stamp() }} as _classified_at
    from classified

)

select * from final
