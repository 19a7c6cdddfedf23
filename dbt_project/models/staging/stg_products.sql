-- One row per product: its latest clean version (greatest updated_at).
--
-- Incremental: for each product re-judged since this model's watermark, rank all its
-- clean versions again and upsert the winner by product_id. Ranking the whole history of
-- the id (not just the new rows) is what keeps a late-arriving OLDER version from
-- replacing a newer one: the stored row is replaced only by a version that ranks
-- first, i.e. has updated_at >= every other clean version's.

{{
    config(
        materialized='incremental',
        unique_key='product_id',
        incremental_strategy=upsert_strategy(),
        post_hook="{{ record_watermark(ref('int_products_classified'), '_classified_at') }}",
    )
}}

with

classified as (

    select * from {{ ref('int_products_classified') }}

),

clean as (

    select * from classified
    where reason is null
    {% if is_incremental() %}
        and product_id in (
            select product_id from classified
            where _classified_at > {{ watermark() }}
        )
    {% endif %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by updated_at desc, loaded_at desc, load_label desc, row_key desc
        ) as version_rank
    from clean

),

final as (

    select
        product_id,
        product_name,
        category,
        unit_price,
        updated_at
    from ranked
    where version_rank = 1

)

select * from final
