{#
    Data tests look at the latest batch, not the whole history: a test's rows are
    narrowed to the keys its model's latest build touched, so a test costs what a batch
    costs however long the history. A model says how in its yml:

        config:
          meta:
            batch_scope: {stamped_by: base_orders_classified, key: order_id, recent_keys: true}

    `key` identifies what the rows of `stamped_by` (a model whose rows carry `_stamp`:
    macros/incremental.sql; by default the tested model itself and its `unique_key`,
    when it is incremental) touched in its newest run; the test sees
    every row of the model with such a key, old rows included, so a key duplicated
    between a new row and an old one is still caught, and a reference is checked
    whenever a row holding it is written. After a first build or a `--full-refresh`
    every row carries the newest stamp: the test covers everything.

    dbt's own `get_where_subquery` (it applies a test's `where` config), extended.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set parts = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append(where) -%}
    {%- endif -%}
    {#- Only when the test runs: a test's context at parse time does not see the
        project's other macros. -#}
    {%- set scope = tested_batch_scope() if execute else none -%}
    {%- if scope -%}
        {%- do conditions.append(scope.key ~ ' in (' ~ scope.touched ~ ')') -%}
        {%- set parts = scope.parts -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set narrowed = 'select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') -%}
        {%- do return('(' ~ union_of_parts(narrowed, parts) ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}

{#- The batch scope of the model the running test is attached to, or none:
      key      the column that identifies what the newest run touched
      touched  a query of those keys: the rows of `stamped_by` with its newest stamp,
               a constant (asked once per test), which the warehouse prunes by its
               min/max statistics, where `max(_stamp)` in a subquery would read the
               stamp column of the whole history, once per part
      parts    `recent_keys: true`: a batch's keys are mostly a recent range (orders,
               days); the same keys then also in a form the warehouse prunes by
               (macros/incremental.sql, static_key_parts: one query more); else none -#}
{% macro tested_batch_scope() -%}
    {%- set tested = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- set scope = tested.config.meta.get('batch_scope') if tested else none -%}
    {#- A model upserted by its unique_key (the dimensions) stamps its own rows: by
        default, the keys its own newest run wrote (as retail_platform/snapshots.py). -#}
    {%- if tested and not scope and tested.config.materialized == 'incremental' and tested.config.unique_key is string -%}
        {%- set scope = {'stamped_by': tested.name, 'key': tested.config.unique_key} -%}
    {%- endif -%}
    {%- if not scope -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set stamped = graph.nodes['model.' ~ project_name ~ '.' ~ scope.stamped_by] -%}
    {%- set source = api.Relation.create(
        database=stamped.database, schema=stamped.schema, identifier=stamped.alias
    ) -%}
    {%- set touched = 'select ' ~ scope.key ~ ' from ' ~ source ~ ' where _stamp = ' ~ newest_stamp(source) -%}
    {{ return({
        'key': scope.key,
        'touched': touched,
        'parts': static_key_parts(scope.key, touched) if scope.get('recent_keys') else [],
    }) }}
{%- endmacro %}

{#
    dbt's relationships test, with the parent narrowed to the values the (batch-scoped)
    child holds: the same answer, without building a hash table of every parent key
    (10M orders, a second of every batch) to look up a batch's few thousand. Where the
    child's column is its batch scope's recent key (an order's items -> its order), the
    parent is narrowed by that key's static parts too (the same keys: no query more),
    or it would read the column of every parent row within the batch's min and max.
#}
{% macro default__test_relationships(model, column_name, to, field) %}

{%- set scope = tested_batch_scope() if execute else none -%}
{%- set parts = static_key_parts(field, scope.touched) if scope and scope.parts and scope.key == column_name else [] -%}

with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    {{- union_of_parts('select ' ~ field ~ ' as to_field from ' ~ to ~ ' where ' ~ field ~ ' in (select from_field from child)', parts) | indent(4) }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{% endmacro %}
