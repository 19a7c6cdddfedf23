-- Every raw order row with the reason it is set aside (`reason` is null for a clean
-- row), and which clean version of each order is the latest one.
--
-- An order version is clean when it parsed, all its items have a positive quantity,
-- and its customer and every item's product are among the clean customers/products
-- (i.e. present in stg_customers / stg_products).

with

orders as (

    select * from {{ ref('int_orders_parsed') }}

),

items as (

    select * from {{ ref('int_order_items') }}

),

clean_customers as (

    select customer_id from {{ ref('stg_customers') }}

),

clean_products as (

    select product_id from {{ ref('stg_products') }}

),

item_checks as (

    -- one row per order version: does any item break a rule?
    select
        items.order_version_key,
        max(case when items.quantity is null or items.quantity <= 0 then 1 else 0 end)
            as has_invalid_quantity,
        max(case when clean_products.product_id is null then 1 else 0 end)
            as has_unknown_product
    from items
    left join clean_products
        on items.product_id = clean_products.product_id
    group by items.order_version_key

),

classified as (

    select
        orders.load_label,
        orders.loaded_at,
        orders.payload_text,
        orders.order_version_key,
        orders.order_id,
        orders.customer_id,
        orders.status,
        orders.order_ts,
        orders.updated_at,
        case
            when orders.parse_reason is not null then orders.parse_reason
            when item_checks.has_invalid_quantity = 1 then 'invalid_quantity'
            when clean_customers.customer_id is null then 'unknown_customer'
            when item_checks.has_unknown_product = 1 then 'unknown_product'
        end as reason
    from orders
    left join item_checks
        on orders.order_version_key = item_checks.order_version_key
    left join clean_customers
        on orders.customer_id = clean_customers.customer_id

),

latest_clean as (

    -- a quarantined version never counts: the newest clean version is the order's latest
    select
        order_version_key,
        row_number() over (
            partition by order_id
            order by updated_at desc, loaded_at desc, load_label desc
        ) as version_rank
    from classified
    where reason is null

),

final as (

    select
        classified.*,
        -- (an extra copy of a payload shares its version key, hence the reason check)
        coalesce(classified.reason is null and latest_clean.version_rank = 1, false)
            as is_latest_version
    from classified
    left join latest_clean
        on classified.order_version_key = latest_clean.order_version_key

)

select * from final
