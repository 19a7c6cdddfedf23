-- One row per product: its latest clean version (greatest updated_at).

with

clean as (

    select * from {{ ref('int_products_classified') }}
    where reason is null

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id
            order by updated_at desc, loaded_at desc, load_label desc
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
