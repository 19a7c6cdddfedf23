-- Every raw product row with the reason it is set aside (`reason` is null for a clean
-- row). stg_products and quarantine_products read this. See macros/classify_versions.sql.

{{ config(materialized='incremental', unique_key='row_key', incremental_strategy=upsert_strategy()) }}

{{ classify_versions(
    'int_products_parsed', 'product_id',
    ['product_name', 'category', 'unit_price'],
) }}
