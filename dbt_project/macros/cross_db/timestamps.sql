{#
    Timestamps, read and stored the same way on every warehouse:

      parse_utc_ts(expr): an ISO-8601 text timestamp -> timestamp in UTC (no zone).
        Accepts `2026-01-01T08:30:00Z`, `2026-01-01 09:30:00+01:00`,
        `2026-01-01T03:30:00-05:00` and `2026-01-01T08:30:00` (no zone means UTC).
        Text that is not a timestamp gives null.
      timestamp_type():  the type of a timestamp without zone (the run stamps,
        macros/incremental.sql).
#}
{% macro parse_utc_ts(expression) -%}
    {{ return(adapter.dispatch('parse_utc_ts', 'retail')(expression)) }}
{%- endmacro %}

{% macro duckdb__parse_utc_ts(expression) -%}
    {#-
        A plain `cast(... as timestamp)` drops the offset, so text with one goes
        through timestamptz; text in UTC (`Z`, nearly every payload: the timestamptz
        cast costs twice the plain one, 8 of a first build's CPU-s at 10M orders) or
        without a zone is read as UTC, whatever the session zone.
    -#}
    case
        when {{ expression }} like '%Z' then try_cast({{ expression }} as timestamp)
        when regexp_matches({{ expression }}, '[+-][0-9]{2}:?[0-9]{2}$')
            then try_cast({{ expression }} as timestamptz) at time zone 'UTC'
        else try_cast({{ expression }} as timestamp)
    end
{%- endmacro %}

{% macro starrocks__parse_utc_ts(expression) -%}
    {#-
        Local date-time = the first 19 characters; the zone = a trailing `+hh:mm` /
        `-hh:mm` (`Z` or nothing means UTC). convert_tz takes offsets as zones.
    -#}
    convert_tz(
        cast(replace(substr({{ expression }}, 1, 19), 'T', ' ') as datetime),
        coalesce(nullif(regexp_extract({{ expression }}, '([+-][0-9]{2}:[0-9]{2})$', 1), ''), '+00:00'),
        '+00:00'
    )
{%- endmacro %}

{% macro default__parse_utc_ts(expression) -%}
    {{ exceptions.raise_compiler_error("parse_utc_ts is not implemented for " ~ adapter.type()) }}
{%- endmacro %}


{% macro timestamp_type() -%}
    {{ return(adapter.dispatch('timestamp_type', 'retail')()) }}
{%- endmacro %}

{% macro duckdb__timestamp_type() -%}
    timestamp
{%- endmacro %}

{% macro starrocks__timestamp_type() -%}
    datetime
{%- endmacro %}

{% macro default__timestamp_type() -%}
    {{ exceptions.raise_compiler_error("timestamp_type is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
