-- One row per product: its latest clean version (greatest updated_at), upserted
-- incrementally. See macros/latest_versions.sql.

{{
    config(
        materialized='incremental',
        unique_key='product_id',
        incremental_strategy=upsert_strategy(),
        post_hook="{{ record_watermark(ref('int_products_classified'), '_classified_at') }}",
    )
}}

{{ latest_versions(
    'int_products_classified', 'product_id',
    ['product_name', 'category', 'unit_price'],
) }}
