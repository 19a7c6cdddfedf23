-- Sales per day and product over each order's latest version, leaving out orders
-- whose latest status is `cancelled`.

with

order_items as (

    select * from {{ ref('stg_order_items') }}
    where status <> 'cancelled'

),

daily as (

    select
        order_date,
        product_id,
        count(distinct order_id) as order_count,
        cast(sum(quantity) as bigint) as units_sold,
        cast(sum(quantity * unit_price) as decimal(18, 2)) as revenue
    from order_items
    group by order_date, product_id

)

select * from daily
