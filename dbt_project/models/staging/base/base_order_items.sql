-- The items of every raw order row that parsed (before the content checks), one row
-- per item with its 1-based position in `items`; append-only, unnesting the parsed
-- rows it has not taken in yet (macros/incremental.sql).

with

orders as (

    select row_key, order_id, payload
    from {{ ref('base_orders_parsed') }}
    where parse_reason is null
    {% if is_incremental() %}
        and {{ stamped_after_this() }}
    {% endif %}

),

unnested as (

    {{ unnest_json_array(
        'orders', 'payload', 'items', ['product_id', 'quantity', 'unit_price'],
        value_as='item', position_as='line_number',
    ) }}

),

final as (

    select
        row_key,
        cast(line_number as int) as line_number,
        order_id,
        {{ cast_or_null('item_product_id', 'bigint') }} as product_id,
        {{ cast_or_null('item_quantity', 'int') }} as quantity,
        -- a price sent as a string ("12.50") converts like a number does
        {{ cast_or_null('item_unit_price', 'decimal(12, 2)') }} as unit_price,
        {{ run_stamp() }} as _stamp
    from unnested

)

select * from final
