-- Every raw product row once, parsed and repaired (see macros/parse_raw.sql).

{% call(payload) parse_raw('raw_products', 'product_id', ['name', 'category', 'unit_price']) %}
    trim({{ payload['name'] }}) as product_name,
    {{ payload['category'] }} as category,
    -- a price sent as a string ("12.50") converts like a number does
    {{ cast_or_null(payload['unit_price'], 'decimal(12, 2)') }} as unit_price
{% endcall %}
