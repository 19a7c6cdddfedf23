-- The items of each order's latest clean version, with the order's date and status.

with

latest_orders as (

    select order_version_key, order_ts, status
    from {{ ref('int_orders_classified') }}
    where is_latest_version

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
        cast(latest_orders.order_ts as date) as order_date,
        latest_orders.status
    from items
    inner join latest_orders
        on items.order_version_key = latest_orders.order_version_key

)

select * from final
