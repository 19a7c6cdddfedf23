-- Every raw product row once, parsed and repaired (see macros/parse_raw.sql).

{% call parse_raw('raw_products', 'product_id') %}
    trim({{ json_str('payload', 'name') }}) as product_name,
    {{ json_str('payload', 'category') }} as category,
    -- a price sent as a string ("12.50") converts like a number does
    {{ cast_or_null(json_str('payload', 'unit_price'), 'decimal(12, 2)') }} as unit_price
{% endcall %}
