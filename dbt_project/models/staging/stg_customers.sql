-- One row per customer: its latest clean version (greatest updated_at), upserted
-- incrementally. See macros/latest_versions.sql.

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy=upsert_strategy(),
        post_hook="{{ record_watermark(ref('int_customers_classified'), '_classified_at') }}",
    )
}}

{{ latest_versions(
    'int_customers_classified', 'customer_id',
    ['first_name', 'last_name', 'email', 'city', 'country', 'signup_ts'],
) }}
