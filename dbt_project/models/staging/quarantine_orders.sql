-- Every raw order row set aside, with the reason (see docs/data_contract.md).

{{ quarantined_rows('base_orders_classified') }}
