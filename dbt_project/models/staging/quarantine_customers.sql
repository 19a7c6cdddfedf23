-- Every raw customer row set aside, with the reason (see docs/data_contract.md).

{{ quarantined_rows('int_customers_classified') }}
