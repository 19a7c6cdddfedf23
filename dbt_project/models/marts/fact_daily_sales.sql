-- Sales per day and product over each order's latest version, leaving out orders
-- whose latest status is `cancelled`.
--
-- Incremental: only the days touched since this model's watermark are recomputed:
-- the order_date of every version of every order int_orders_classified re-judged
-- (that covers an order's old day and its new one when its latest version moved).
-- Those days are deleted first (pre-hook), then recomputed whole from stg_order_items,
-- so a day whose orders all got cancelled disappears. (StarRocks: a Primary Key table,
-- DELETE ... WHERE order_date IN (subquery), then insert; DuckDB: the same in one
-- transaction.)

{{
    config(
        materialized='incremental',
        incremental_strategy=append_strategy(),
        pre_hook="{{ delete_scope('order_date', changed_since_watermark(ref('int_orders_classified'), 'order_date')) }}",
        post_hook="{{ record_watermark(ref('int_orders_classified'), '_classified_at') }}",
    )
}}

with

order_items as (

    select * from {{ ref('stg_order_items') }}
    where status <> 'cancelled'
    {% if is_incremental() %}
        and order_date in (
            {{ changed_since_watermark(ref('int_orders_classified'), 'order_date') }}
        )
    {% endif %}

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
