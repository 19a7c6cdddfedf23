-- Every raw customer row once, parsed and repaired (see macros/parse_raw.sql).

{% call(payload) parse_raw(
    'raw_customers', 'customer_id', ['first_name', 'last_name', 'email', 'city', 'country', 'signup_ts']
) %}
    trim({{ payload['first_name'] }}) as first_name,
    trim({{ payload['last_name'] }}) as last_name,
    lower(trim({{ payload['email'] }})) as email,
    trim({{ payload['city'] }}) as city,
    {{ payload['country'] }} as country,
    {{ parse_utc_ts(payload['signup_ts']) }} as signup_ts
{% endcall %}
