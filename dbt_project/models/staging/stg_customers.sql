-- One row per customer: its latest clean version, judged in base_customers_classified.

select customer_id, first_name, last_name, email, city, country, signup_ts, updated_at
from {{ ref('base_customers_classified') }}
where is_latest_version
