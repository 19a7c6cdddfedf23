-- Every raw order row once, parsed and repaired (see macros/parse_raw.sql). The payload
-- is kept for base_order_items; repeated copies and the content checks (items,
-- references) are judged in base_orders_classified.

{% call(payload) parse_raw('raw_orders', 'order_id', ['customer_id', 'status', 'order_ts']) %}
    {{ cast_or_null(payload['customer_id'], 'bigint') }} as customer_id,
    -- `Shipped`, ` shipped `, `SHIPPED` are all `shipped`
    lower(trim({{ payload['status'] }})) as status,
    {{ parse_utc_ts(payload['order_ts']) }} as order_ts
{% endcall %}
