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

    select * from {{ ref('stg_customers') }}
    {% if is_incremental() %}
    where customer_id in ({{ changed(ref('base_customers_classified'), 'customer_id') }})
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
