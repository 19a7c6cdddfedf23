-- The items of each order's latest clean version, with the order's date and status.
--
-- Incremental: for every order re-judged since this model's watermark, its lines are
-- deleted (pre-hook) and its latest version's lines inserted, so a line that the new
-- version no longer has goes too.

{{
    config(
        materialized='incremental',
        incremental_strategy=append_strategy(),
        pre_hook="{{ delete_scope('order_id', changed_since_watermark(ref('int_orders_classified'), 'order_id')) }}",
        post_hook="{{ record_watermark(ref('int_orders_classified'), '_classified_at') }}",
    )
}}

with

latest_orders as (

    select row_key, order_date, status
    from {{ ref('int_orders_classified') }}
    where is_latest_version
    {% if is_incremental() %}
        and _classified_at > {{ watermark() }}
    {% endif %}

),

items as (

    select * from {{ ref('int_order_items') }}

),

final as (

    select
        items.order_id,
        items.line_number,
        items.product_id,
        items.quantity,
        items.unit_price,
        latest_orders.order_date,
        latest_orders.status
    from items
    inner join latest_orders
        on items.row_key = latest_orders.row_key

)

select * from final
