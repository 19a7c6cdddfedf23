-- One row per customer: its latest clean version, judged in int_customers_classified.

select customer_id, first_name, last_name, email, city, country, signup_ts, updated_at
from {{ ref('int_customers_classified') }}
where is_latest_version
