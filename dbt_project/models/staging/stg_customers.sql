-- One row per customer: its latest clean version (greatest updated_at).
--
-- Incremental: for each customer re-judged since this model's watermark, rank all its
-- clean versions again and upsert the winner by customer_id. Ranking the whole history of
-- the id (not just the new rows) is what keeps a late-arriving OLDER version from
-- replacing a newer one: the stored row is replaced only by a version that ranks
-- first, i.e. has updated_at >= every other clean version's.

{{
    config(
        materialized='incremental',
        unique_key='customer_id',
        incremental_strategy=upsert_strategy(),
        post_hook="{{ record_watermark(ref('int_customers_classified'), '_classified_at') }}",
    )
}}

with

classified as (

    select * from {{ ref('int_customers_classified') }}

),

clean as (

    select * from classified
    where reason is null
    {% if is_incremental() %}
        and customer_id in (
            select customer_id from classified
            where _classified_at > {{ watermark() }}
        )
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id
            order by updated_at desc, loaded_at desc, load_label desc, row_key desc
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
