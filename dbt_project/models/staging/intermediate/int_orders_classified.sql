-- Every raw order row with the reason it is set aside (`reason` is null for a clean
-- row), and which clean version of each order is the latest one.
--
-- An order version is clean when it parsed, is the first copy of its payload, all its
-- items have a positive quantity, and its customer and every item's product are among
-- the clean customers/products (i.e. present in stg_customers / stg_products).
--
-- Incremental: a run re-judges, and upserts by row_key, every version of
--   * each order that has new raw rows (copies and the latest version depend on the
--     order's earlier versions), and
--   * each order with a version quarantined as unknown_customer / unknown_product whose
--     verdict changes now (its customer or product has turned up clean since): what a
--     full rebuild would decide today. Those versions are few, and only the ones whose
--     verdict changes pull their order in, so a reference that never resolves costs
--     nothing downstream.

{{ config(materialized='incremental', unique_key='row_key', incremental_strategy=upsert_strategy()) }}

with

parsed as (

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

{% if is_incremental() %}
new_rows as (

    select order_id, row_key
    from parsed
    where _parsed_at > {{ max_stamp(this, '_parsed_at') }}

),

unresolved as (

    select row_key, order_id, customer_id, reason
    from {{ this }}
    where reason in ('unknown_customer', 'unknown_product')

),

unresolved_product_checks as (

    select
        items.row_key,
        max(case when clean_products.product_id is null then 1 else 0 end)
            as has_unknown_product
    from items
    inner join unresolved
        on items.row_key = unresolved.row_key
    left join clean_products
        on items.product_id = clean_products.product_id
    group by items.row_key

),

resolved as (

    -- (quantities were fine, or the reason would be invalid_quantity)
    select unresolved.order_id
    from unresolved
    left join clean_customers
        on unresolved.customer_id = clean_customers.customer_id
    left join unresolved_product_checks
        on unresolved.row_key = unresolved_product_checks.row_key
    where unresolved.reason <> coalesce(
        case
            when clean_customers.customer_id is null then 'unknown_customer'
            when unresolved_product_checks.has_unknown_product = 1 then 'unknown_product'
        end,
        'clean'
    )

),

scope as (

    {{ rows_in_scope(
        'parsed', 'order_id',
        ids='select order_id from new_rows where order_id is not null
            union select order_id from resolved where order_id is not null',
        keys='select row_key from new_rows where order_id is null',
    ) }}

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

item_checks as (

    -- one row per order version: does any item break a rule?
    select
        items.row_key,
        max(case when items.quantity is null or items.quantity <= 0 then 1 else 0 end)
            as has_invalid_quantity,
        max(case when clean_products.product_id is null then 1 else 0 end)
            as has_unknown_product
    from items
    inner join scope
        on items.row_key = scope.row_key
    left join clean_products
        on items.product_id = clean_products.product_id
    group by items.row_key

),

classified as (

    select
        numbered.row_key,
        numbered.load_label,
        numbered.loaded_at,
        numbered.payload_text,
        numbered.order_version_key,
        numbered.order_id,
        numbered.customer_id,
        numbered.status,
        numbered.order_ts,
        numbered.updated_at,
        case
            when numbered.parse_reason is not null then numbered.parse_reason
            when numbered.copy_number > 1 then 'duplicate'
            when item_checks.has_invalid_quantity = 1 then 'invalid_quantity'
            when clean_customers.customer_id is null then 'unknown_customer'
            when item_checks.has_unknown_product = 1 then 'unknown_product'
        end as reason,
        numbered._parsed_at
    from numbered
    left join item_checks
        on numbered.row_key = item_checks.row_key
    left join clean_customers
        on numbered.customer_id = clean_customers.customer_id

),

latest_clean as (

    -- a quarantined version never counts: the newest clean version is the order's latest
    select
        row_key,
        row_number() over (
            partition by order_id
            order by updated_at desc, loaded_at desc, load_label desc, row_key desc
        ) as version_rank
    from classified
    where reason is null

),

final as (

    select
        classified.*,
        cast(classified.order_ts as date) as order_date,
        coalesce(latest_clean.version_rank = 1, false) as is_latest_version,
        {{ run_stamp() }} as _classified_at
    from classified
    left join latest_clean
        on classified.row_key = latest_clean.row_key

)

select * from final
