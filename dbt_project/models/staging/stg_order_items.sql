-- The items of each order's latest clean version, with the order's date and status.

select order_id, line_number, product_id, quantity, unit_price, order_date, status
from {{ ref('base_order_lines') }}
