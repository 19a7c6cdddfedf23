-- Every raw order row once, parsed and repaired (see macros/parse_raw.sql). The payload
-- is kept for int_order_items; repeated copies and the content checks (items,
-- references) are judged in int_orders_classified.

{% call parse_raw('raw_orders', 'order_id') %}
    {{ cast_or_null(json_str('payload', 'customer_id'), 'bigint') }} as customer_id,
    -- `Shipped`, ` shipped `, `SHIPPED` are all `shipped`
    lower(trim({{ json_str('payload', 'status') }})) as status,
    {{ parse_utc_ts(json_str('payload', 'order_ts')) }} as order_ts
{% endcall %}
