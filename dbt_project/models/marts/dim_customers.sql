-- Customers, SCD type 1: one row per customer with its latest attributes
-- (a rebuild overwrites; on StarRocks a Primary Key table).

with

customers as (

    select * from {{ ref('stg_customers') }}

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
        updated_at
    from customers

)

select * from final
