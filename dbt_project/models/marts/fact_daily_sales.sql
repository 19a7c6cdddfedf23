-- Sales per day and product: order_count distinct orders, units_sold, revenue. A view
-- of int_daily_sales, which keeps it incrementally (a view, not a copy: a reader on
-- StarRocks never finds it half-built).

{{ config(materialized='view', post_hook="{{ report_daily_figures(ref('stg_order_items')) }}") }}
-- depends_on: {{ ref('stg_order_items') }} (the daily figures count its orders)

select order_date, product_id, order_count, units_sold, revenue
from {{ ref('int_daily_sales') }}
-- a (day, product) whose orders all went, until int_daily_sales deletes its row
where order_count > 0
