-- The items of each order's latest clean version, with the order's date and status:
-- staging.stg_order_items is a view of it.
--
-- Incremental (macros/incremental.sql): base_orders_classified stamps every version of
-- an order it re-judges, so the orders it stamped since this model's newest stamp are
-- the ones that may have changed: their lines are deleted (pre-hook) and their latest
-- version's lines inserted, so a line the new version no longer has goes too.
-- An incremental run writes its lines in day and order order: int_daily_sales
-- recomputes whole days, and the deletes and data tests look lines up by order. A
-- first build keeps the join's order (items in load order, about day order): sorting
-- the whole history beside a concurrent data test ran out of DuckDB's memory limit at
-- 10M orders.

{{ config(pre_hook="{{ delete_changed(ref('base_orders_classified'), 'order_id') }}") }}

with

latest_versions as (

    select row_key, order_id, order_date, status
    from {{ ref('base_orders_classified') }}
    where is_latest_version
    {% if is_incremental() %}
        and {{ stamped_after_this() }}
    {% endif %}

),

final as (

    -- Static filters on the join key: see macros/classify_versions.sql, versions. The
    -- items are read where they are used: through a CTE, read by each part, DuckDB
    -- materializes them once with the parts' filters ORed (the whole history).
    {%- set joined %}
    select
        items.order_id,
        items.line_number,
        items.product_id,
        items.quantity,
        items.unit_price,
        latest_versions.order_date,
        latest_versions.status,
        {{ run_stamp() }} as _stamp
    from {{ ref('base_order_items') }} as items
    inner join latest_versions
        on items.order_id = latest_versions.order_id
        and items.row_key = latest_versions.row_key
    where items.order_id is not null
    {%- endset %}
    {%- if is_incremental() %}
    {%- set orders = changed(ref('base_orders_classified'), 'order_id') %}
    {{ union_of_parts(
        joined ~ ' and items.order_id in (select order_id from latest_versions)',
        static_key_parts('items.order_id', orders),
    ) }}
    {%- else %}
    {{ joined }}
    {%- endif %}

)

select * from final
{{ write_order('order_date, order_id') if is_incremental() }}
