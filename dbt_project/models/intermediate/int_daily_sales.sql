-- Sales per day and product over each order's latest version, leaving out orders
-- whose latest status is `cancelled`: marts.fact_daily_sales is a view of it.
--
-- Incremental (macros/incremental.sql), from the order versions base_orders_classified
-- stamped since this model's newest stamp (it stamps every version of every order it
-- re-judges), in one of two ways:
-- - by changes, when base_orders_classified ran once since this model last did
--   (`in_step_with`): for each of those versions that became or stopped being its
--   order's latest clean version (`was_latest_version`), its items count with a plus
--   or a minus sign, and the (day, product) pairs they change get their old figures
--   plus the change, written by key. The work is that of the orders that changed:
--   a late customer that clears a few old orders touches their pairs, not their
--   whole days. A pair whose orders all went is written with order_count 0, left
--   out of the fact, and deleted by the next run (pre-hook).
-- - by whole days, otherwise (this model failed or was left out of a run, or
--   base_orders_classified was rebuilt): the order_date of every version stamped
--   (an order's old day and its new one when its latest version moved) is deleted
--   (pre-hook) and recomputed from base_order_lines.

-- It also keeps the row count, day count and total revenue that Dagster shows of the
-- fact (macros/dagster_metadata.sql, daily_figures), over the days it touches.

-- depends_on: {{ ref('base_order_items') }}
{{ config(
    unique_key=['order_date', 'product_id'],
    incremental_strategy=write_by_key(),
    pre_hook=[
        "{{ delete_zero_rows('order_count') }}",
        "{{ note_changed(ref('base_orders_classified'), 'order_date', daily_figures()) }}",
        "{{ delete_changed(ref('base_orders_classified'), 'order_date') if not in_step_with(ref('base_orders_classified')) }}",
    ],
    post_hook="{{ keep_running_totals(daily_figures(), over=changed_rows(ref('base_orders_classified'), 'order_date')) }}",
) }}

{%- set orders = ref('base_orders_classified') %}
{%- set days = changed(orders, 'order_date') if is_incremental() else none %}

{%- if in_step_with(orders) %}
{%- set flipped = 'from ' ~ orders ~ ' where ' ~ stamped_after_this() ~ ' and is_latest_version <> was_latest_version' %}

with

versions as (

    -- the versions re-judged since this model's newest stamp that became or stopped
    -- being their order's latest clean version (one that stays it counts the same)
    select row_key, order_id, order_date, status, is_latest_version
    {{ flipped }}

),

signed_items as (

    -- their items, counted in (+1) or out (-1); by the orders' keys as constants
    -- (macros/incremental.sql, static_key_parts), which skip the history
    {%- set items %}
    select
        versions.order_date,
        items.product_id,
        items.order_id,
        items.quantity,
        items.unit_price,
        case when versions.is_latest_version then 1 else -1 end as sign
    from {{ ref('base_order_items') }} as items
    inner join versions
        on items.order_id = versions.order_id
        and items.row_key = versions.row_key
    where versions.status <> 'cancelled'
        and items.order_id in (select order_id from versions)
    {%- endset %}
    {{ union_of_parts(items, static_key_parts('items.order_id', 'select order_id ' ~ flipped)) }}

),

-- per order first, as a full build counts: order_count counts orders
order_products as (

    select
        order_date,
        product_id,
        order_id,
        sign,
        sum(quantity) as quantity,
        sum(quantity * unit_price) as amount
    from signed_items
    group by order_date, product_id, order_id, sign

),

changes as (

    select
        order_date,
        product_id,
        sum(sign) as order_count,
        sum(sign * quantity) as units_sold,
        sum(sign * amount) as revenue
    from order_products
    group by order_date, product_id
    having sum(sign) <> 0 or sum(sign * quantity) <> 0 or sum(sign * amount) <> 0

),

kept as (

    -- this model's rows of the days changed (static filters on the day)
    {{ union_of_parts(
        'select order_date, product_id, order_count, units_sold, revenue from ' ~ this
        ~ ' where order_date in (' ~ days ~ ')',
        static_key_parts('order_date', days),
    ) }}

),

final as (

    select
        changes.order_date,
        changes.product_id,
        cast(coalesce(kept.order_count, 0) + changes.order_count as bigint) as order_count,
        cast(coalesce(kept.units_sold, 0) + changes.units_sold as bigint) as units_sold,
        cast(coalesce(kept.revenue, 0) + changes.revenue as decimal(18, 2)) as revenue,
        {{ run_stamp() }} as _stamp
    from kept
    -- the hash table of the changes, the smaller side (profiles.yml)
    right join changes
        on kept.order_date = changes.order_date
        and kept.product_id = changes.product_id

)

{%- else %}

with

order_lines as (

    {%- set lines %}
    select * from {{ ref('base_order_lines') }}
    where status <> 'cancelled'
    {%- endset %}
    {%- if is_incremental() %}
    {{ union_of_parts(lines ~ ' and order_date in (' ~ days ~ ')', static_key_parts('order_date', days)) }}
    {%- else %}
    {{ lines }}
    {%- endif %}

),

-- Per order first, then per day and product: count(distinct) is not needed, and two
-- plain aggregations spill to disk where a distinct one runs out of memory (a first
-- build at 50M orders did, at the 1.5 GB memory_limit).
order_products as (

    select
        order_date,
        product_id,
        order_id,
        sum(quantity) as quantity,
        sum(quantity * unit_price) as amount
    from order_lines
    group by order_date, product_id, order_id

),

final as (

    select
        order_date,
        product_id,
        count(*) as order_count,
        cast(sum(quantity) as bigint) as units_sold,
        cast(sum(amount) as decimal(18, 2)) as revenue,
        {{ run_stamp() }} as _stamp
    from order_products
    group by order_date, product_id

)

{%- endif %}

select * from final
{{ write_order('order_date, product_id') }}
