-- One row per order: its latest clean version (see int_orders_classified).
--
-- Incremental: int_orders_classified rewrites every version of an order it re-judges,
-- so the latest versions stamped since this model's watermark are exactly the orders
-- that may have changed; each is upserted by order_id. The winner was ranked against
-- all the order's clean versions, so an older version arriving late never replaces a
-- newer one (the stored row is only replaced by a version with updated_at >= it).

{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy=upsert_strategy(),
        post_hook="{{ record_watermark(ref('int_orders_classified'), '_classified_at') }}",
    )
}}

with

latest as (

    select * from {{ ref('int_orders_classified') }}
    where is_latest_version
    {% if is_incremental() %}
        and _classified_at > {{ watermark() }}
    {% endif %}

),

final as (

    select
        order_id,
        customer_id,
        status,
        order_ts,
        order_date,
        updated_at
    from latest

)

select * from final
