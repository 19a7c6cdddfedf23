-- Every raw customer row once, parsed and repaired (see macros/parse_raw.sql).

{% call parse_raw('raw_customers', 'customer_id') %}
    trim({{ json_str('payload', 'first_name') }}) as first_name,
    trim({{ json_str('payload', 'last_name') }}) as last_name,
    lower(trim({{ json_str('payload', 'email') }})) as email,
    trim({{ json_str('payload', 'city') }}) as city,
    {{ json_str('payload', 'country') }} as country,
    {{ parse_utc_ts(json_str('payload', 'signup_ts')) }} as signup_ts
{% endcall %}
