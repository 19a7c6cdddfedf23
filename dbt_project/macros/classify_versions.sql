{#-
    The body of int_customers_classified and int_products_classified: every parsed row
    of one entity with the reason it is set aside (`reason` null = clean).

    Incremental: a run re-judges every version of each id that has new raw rows (whether
    a row is a repeated copy depends on the id's earlier rows), plus the new rows without
    an id, and the model upserts them by row_key. Orders add item and reference checks
    and have a model of their own (int_orders_classified).
-#}
{% macro classify_versions(parsed_model, id_column, columns) %}
with

parsed as (

    select * from {{ ref(parsed_model) }}

),

{% if is_incremental() %}
new_rows as (

    select {{ id_column }}, row_key
    from parsed
    where _parsed_at > {{ max_stamp(this, '_parsed_at') }}

),

scope as (

    {{ rows_in_scope(
        'parsed', id_column,
        ids='select distinct ' ~ id_column ~ ' from new_rows where ' ~ id_column ~ ' is not null',
        keys='select row_key from new_rows where ' ~ id_column ~ ' is null',
    ) }}

),
{% else %}
scope as (

    select * from parsed

),
{% endif %}

numbered as (

    -- the same payload sent again is the same event: only its first copy counts
    select
        *,
        row_number() over (
            partition by payload_text
            order by loaded_at, load_label, copy_in_load
        ) as copy_number
    from scope

),

classified as (

    select
        *,
        case
            when not is_object then 'malformed_json'
            when {{ id_column }} is null then 'missing_id'
            when copy_number > 1 then 'duplicate'
        end as reason
    from numbered

),

final as (

    select
        row_key,
        load_label,
        loaded_at,
        payload_text,
        {{ id_column }},
        {%- for column in columns %}
        {{ column }},
        {%- endfor %}
        updated_at,
        reason,
        _parsed_at,
        {{ run_stamp() }} as _classified_at
    from classified

)

select * from final
{% endmacro %}


{#- The rows of `source` (a CTE) whose `id_column` is among `ids` (a select of distinct
    ids), and its rows without an id whose row_key is among `keys`. A union of joins,
    not `id in (...) or row_key in (...)`: StarRocks 3.5 plans an OR of IN-subqueries
    as a nested-loop join. -#}
{% macro rows_in_scope(source, id_column, ids, keys) -%}
    select {{ source }}.*
    from {{ source }}
    inner join ({{ ids }}) as scope_ids on {{ source }}.{{ id_column }} = scope_ids.{{ id_column }}
    union all
    select {{ source }}.*
    from {{ source }}
    inner join ({{ keys }}) as scope_keys on {{ source }}.row_key = scope_keys.row_key
    where {{ source }}.{{ id_column }} is null
{%- endmacro %}
