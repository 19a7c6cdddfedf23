-- Every raw order row with the reason it is set aside (`reason` is null for a clean
-- row) and whether it is the order's latest clean version. See
-- macros/classify_versions.sql for what every entity shares; an order's own rules are
-- below: all its items have a positive quantity, and its customer and every item's
-- product have a clean version (base_*_classified: the ids stg_customers/stg_products
-- hold). The reference rules depend on customers and products that may arrive later,
-- so a version set aside by them is judged again when the reference arrives: the
-- customer or, for an unknown product, the first product it waits for
-- (missing_customer_id, missing_product_id, kept with the version: null unless it
-- waits, they are cheap to search, where the customer_id column of every version and
-- the items' product_id column are the whole history's).

-- Keeps the row counts of its stg_ and quarantine_ views (macros/running_totals.sql).
{{ config(post_hook="{{ keep_running_totals(classified_figures()) }}") }}

{% call(versions, new_only, ids) classify_versions(
    'base_orders_parsed', 'order_id',
    ['customer_id', 'status', 'order_ts', 'cast(order_ts as date) as order_date'],
    rejudged=['unknown_customer', 'unknown_product'],
    rejudge_when=[
        "missing_customer_id in (select customer_id from " ~ ref('base_customers_classified')
        ~ " where is_latest_version and " ~ stamped_after_this() ~ ")",
        "missing_product_id in (select product_id from " ~ ref('base_products_classified')
        ~ " where is_latest_version and " ~ stamped_after_this() ~ ")",
    ] if is_incremental() else none,
    waits_for='missing_product_id',
    lookup_columns=[
        "case when judged.reason = 'unknown_customer' then judged.customer_id end as missing_customer_id",
    ],
) %}
    select
        {{ versions }}.row_key,
        case
            when item_checks.has_invalid_quantity = 1 then 'invalid_quantity'
            when clean_customers.customer_id is null then 'unknown_customer'
            when item_checks.has_unknown_product = 1 then 'unknown_product'
        end as content_reason,
        case
            when item_checks.has_invalid_quantity = 0 and clean_customers.customer_id is not null
                then item_checks.missing_product_id
        end as missing_product_id
    from {{ versions }}
    left join (
        -- one row per order version: does any item break a rule?
        select
            items.row_key,
            max(case when items.quantity is null or items.quantity <= 0 then 1 else 0 end)
                as has_invalid_quantity,
            max(case when clean_products.product_id is null then 1 else 0 end)
                as has_unknown_product,
            -- null when the only unknown product is a null id: nothing can arrive for it
            min(case when clean_products.product_id is null then items.product_id end)
                as missing_product_id
        from {{ ref('base_order_items') }} as items
        left join (
            select product_id from {{ ref('base_products_classified') }} where is_latest_version
        ) as clean_products
            on items.product_id = clean_products.product_id
        {%- if is_incremental() %}
        -- Static filters, which skip the history: the orders in scope, and for new
        -- versions the items unnested with them. Items of other versions of these
        -- orders make groups that the left join below leaves out.
        where items.order_id in (select order_id from {{ versions }})
            {%- if new_only %}
            and items.{{ stamped_after_this() }}
            {%- endif %}
            {%- if ids is not none %}
            -- the same orders as constants (macros/classify_versions.sql)
            and {{ in_values('items.order_id', ids) }}
            {%- endif %}
        {%- endif %}
        group by items.row_key
    ) as item_checks
        on {{ versions }}.row_key = item_checks.row_key
    left join (
        select customer_id from {{ ref('base_customers_classified') }}
        where is_latest_version
        {%- if is_incremental() %}
            -- these versions' customers only: a hash table of the batch's, not of
            -- every customer (the IN-subquery's side is the one hashed)
            and customer_id in (select customer_id from {{ versions }})
        {%- endif %}
    ) as clean_customers
        on {{ versions }}.customer_id = clean_customers.customer_id
{% endcall %}
