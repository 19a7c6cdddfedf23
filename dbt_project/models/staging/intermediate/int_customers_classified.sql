-- Every raw customer row with the reason it is set aside (`reason` is null for a clean
-- row). stg_customers and quarantine_customers read this. See macros/classify_versions.sql.

{{ config(materialized='incremental', unique_key='row_key', incremental_strategy=upsert_strategy()) }}

{{ classify_versions(
    'int_customers_parsed', 'customer_id',
    ['first_name', 'last_name', 'email', 'city', 'country', 'signup_ts'],
) }}
