-- One row per order: its latest clean version, judged in base_orders_classified.

select order_id, customer_id, status, order_ts, order_date, updated_at
from {{ ref('base_orders_classified') }}
where is_latest_version
