-- Every raw customer row set aside, with the reason (see docs/data_contract.md).

with

quarantined as (

    select * from {{ ref('int_customers_classified') }}
    where reason is not null

),

final as (

    select
        load_label,
        loaded_at,
        reason,
        payload_text
    from quarantined

)

select * from final
