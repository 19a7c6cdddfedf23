{#
    text_hash(expr): a 128-bit MD5 digest of a text as a number, to group or compare
    long texts (payloads) by a fixed-width key: a window partitioned by a 16-byte
    number sorts and hashes far faster than one partitioned by the text itself.
    Null in DuckDB; StarRocks digests null as well, so all nulls still share one key.
#}
{% macro text_hash(expression) -%}
    {{ return(adapter.dispatch('text_hash', 'retail')(expression)) }}
{%- endmacro %}

{% macro duckdb__text_hash(expression) -%}
    md5_number({{ expression }})
{%- endmacro %}

{% macro starrocks__text_hash(expression) -%}
    md5sum_numeric({{ expression }})
{%- endmacro %}

{% macro default__text_hash(expression) -%}
    {{ exceptions.raise_compiler_error("text_hash is not implemented for " ~ adapter.type()) }}
{%- endmacro %}

{#
    raw_row_key(...): a 128-bit number for one raw row, which every base_ model joins
    and reads by: its load, its payload (by `payload_hash`, its text_hash) and which
    identical copy in the load it is (`copy_in_load`), so no two raw rows share one.
    On DuckDB the payload's digest, already taken, is combined (xor) with a hash of the
    rest: a second MD5 over the payload text cost a first build at 10M orders ~7 CPU-s
    (one pass over 12M payloads; hash() is ten times faster). Elsewhere the MD5 of the
    three as text (StarRocks's concat of a NULL is NULL: coalesced).
#}
{% macro raw_row_key(load_label, payload, payload_hash, copy_in_load) -%}
    {{ return(adapter.dispatch('raw_row_key', 'retail')(load_label, payload, payload_hash, copy_in_load)) }}
{%- endmacro %}

{% macro duckdb__raw_row_key(load_label, payload, payload_hash, copy_in_load) -%}
    xor(
        coalesce({{ payload_hash }}, cast(0 as uhugeint)),
        (cast(hash({{ load_label }}, {{ copy_in_load }}) as uhugeint) << 64)
            | cast(hash({{ copy_in_load }}, {{ load_label }}) as uhugeint)
    )
{%- endmacro %}

{% macro default__raw_row_key(load_label, payload, payload_hash, copy_in_load) -%}
    {{ text_hash("concat(" ~ load_label ~ ", '|', coalesce(cast(" ~ payload ~ " as varchar), ''), '|', cast(" ~ copy_in_load ~ " as varchar))") }}
{%- endmacro %}

{#- row_key_literal(text): a row_key written as a constant (`text`: its digits quoted, or
    null), typed as raw_row_key's number. -#}
{% macro row_key_literal(text) -%}
    {{ return(adapter.dispatch('row_key_literal', 'retail')(text)) }}
{%- endmacro %}

{% macro duckdb__row_key_literal(text) -%}
    cast({{ text }} as uhugeint)
{%- endmacro %}

{% macro default__row_key_literal(text) -%}
    cast({{ text }} as largeint)
{%- endmacro %}

{#- fast_hash(expr): a quick hash of a text, to find texts that may be equal (equal
    texts share it; different ones rarely do): never a key of its own. -#}
{% macro fast_hash(expression) -%}
    {{ return(adapter.dispatch('fast_hash', 'retail')(expression)) }}
{%- endmacro %}

{% macro duckdb__fast_hash(expression) -%}
    hash({{ expression }})
{%- endmacro %}

{% macro starrocks__fast_hash(expression) -%}
    murmur_hash3_32({{ expression }})
{%- endmacro %}

{% macro default__fast_hash(expression) -%}
    {{ exceptions.raise_compiler_error("fast_hash is not implemented for " ~ adapter.type()) }}
{%- endmacro %}
