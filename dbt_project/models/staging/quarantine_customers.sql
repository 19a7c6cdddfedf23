-- Every raw customer row set aside, with the reason (see docs/data_contract.md).
--
-- A view: the rows are judged incrementally in int_customers_classified (a row's verdict can
-- change: a copy of its payload loaded late with an earlier loaded_at makes it the
-- duplicate), and this is their set-aside part, never a second copy that could drift.

{{ config(materialized='view') }}

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
