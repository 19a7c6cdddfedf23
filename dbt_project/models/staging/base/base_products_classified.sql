-- Every raw product row with the reason it is set aside (`reason` is null for a clean
-- row) and whether it is the product's latest clean version. See
-- macros/classify_versions.sql.

-- Keeps the row counts of its stg_ and quarantine_ views (macros/running_totals.sql).
{{ config(post_hook="{{ keep_running_totals(classified_figures()) }}") }}

{{ classify_versions('base_products_parsed', 'product_id', ['product_name', 'category', 'unit_price']) }}
