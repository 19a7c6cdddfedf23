-- Products: one row per product with its latest attributes.
--
-- Incremental, as dim_customers: the products base_products_classified re-judged since
-- this model's newest stamp are upserted by product_id.

{{ config(
    materialized='incremental',
    unique_key='product_id',
    pre_hook="{{ report_dimension_changes(ref('stg_products'), ref('base_products_classified'), 'product_id') }}",
) }}

with

products as (

    {% if is_incremental() %}
    {{ rejudged_latest_versions(ref('base_products_classified')) }}
    {% else %}
    select * from {{ ref('stg_products') }}
    {% endif %}

),

final as (

    select
        product_id,
        product_name,
        category,
        unit_price,
        updated_at,
        {{ run_stamp() }} as _stamp
    from products

)

select * from final
