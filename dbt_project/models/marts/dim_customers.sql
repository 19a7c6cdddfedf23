-- Customers, SCD type 1: one row per customer with its latest attributes.
--
-- Incremental (macros/incremental.sql): the customers base_customers_classified
-- re-judged since this model's newest stamp are upserted by customer_id (a Primary Key
-- table on StarRocks); the others are not read. A pre-hook reports how many of them are
-- new and how many changed (macros/dagster_metadata.sql).

{{ config(
    materialized='incremental',
    unique_key='customer_id',
    pre_hook="{{ report_dimension_changes(ref('stg_customers'), ref('base_customers_classified'), 'customer_id') }}",
) }}

with

customers as (

    {% if is_incremental() %}
    {{ rejudged_latest_versions(ref('base_customers_classified')) }}
    {% else %}
    select * from {{ ref('stg_customers') }}
    {% endif %}

),

final as (

    select
        customer_id,
        first_name,
        last_name,
        email,
        city,
        country,
        signup_ts,
        updated_at,
        {{ run_stamp() }} as _stamp
    from customers

)

select * from final
