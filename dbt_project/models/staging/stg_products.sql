-- One row per product: its latest clean version, judged in int_products_classified.

select product_id, product_name, category, unit_price, updated_at
from {{ ref('int_products_classified') }}
where is_latest_version
