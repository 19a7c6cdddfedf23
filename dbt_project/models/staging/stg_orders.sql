-- One row per order: its latest clean version (see int_orders_classified).

with

latest as (

    select * from {{ ref('int_orders_classified') }}
    where is_latest_version

),

final as (

    select
        order_id,
        customer_id,
        status,
        order_ts,
        cast(order_ts as date) as order_date,
        updated_at
    from latest

)

select * from final
