-- One row per customer: its latest clean version (greatest updated_at).

with

clean as (

    select * from {{ ref('int_customers_classified') }}
    where reason is null

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, loaded_at desc, load_label desc
        ) as version_rank
    from clean

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
    from ranked
    where version_rank = 1

)

select * from final
