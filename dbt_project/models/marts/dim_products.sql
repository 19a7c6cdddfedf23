-- Products: one row per product with its latest attributes.

with

products as (

    select * from {{ ref('stg_products') }}

),

final as (

    select
        product_id,
        product_name,
        category,
        unit_price,
        updated_at
    from products

)

select * from final
