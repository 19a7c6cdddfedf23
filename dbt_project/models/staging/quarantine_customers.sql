-- Every raw customer row set aside, with the reason (see docs/data_contract.md).

{{ quarantined_rows('base_customers_classified') }}
