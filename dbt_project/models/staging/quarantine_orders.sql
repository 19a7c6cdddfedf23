-- Every raw order row set aside, with the reason (see docs/data_contract.md).
--
-- A view: the classified rows are judged incrementally in int_orders_classified (a row
-- leaves quarantine when, say, the customer it referenced turns up clean later), and
-- this is their set-aside part, never a second copy that could drift.

{{ config(materialized='view') }}

with

quarantined as (

    select * from {{ ref('int_orders_classified') }}
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
