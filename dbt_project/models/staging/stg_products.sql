-- One row per product: its latest clean version, judged in base_products_classified.

select product_id, product_name, category, unit_price, updated_at
from {{ ref('base_products_classified') }}
where is_latest_version
