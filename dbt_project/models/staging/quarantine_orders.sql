-- Every raw order row set aside, with the reason (see docs/data_contract.md).

{{ quarantined_rows('int_orders_classified') }}
