-- Every raw customer row with the reason it is set aside (`reason` is null for a clean
-- row) and whether it is the customer's latest clean version. See
-- macros/classify_versions.sql.

-- Keeps the row counts of its stg_ and quarantine_ views (macros/running_totals.sql).
{{ config(post_hook="{{ keep_running_totals(classified_figures()) }}") }}

{{ classify_versions(
    'base_customers_parsed', 'customer_id',
    ['first_name', 'last_name', 'email', 'city', 'country', 'signup_ts'],
) }}
