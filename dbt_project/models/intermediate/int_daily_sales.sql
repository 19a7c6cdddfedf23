-- Sales per day and product over each order's latest version, leaving out orders
-- whose latest status is `cancelled`: marts.fact_daily_sales is a view of it.
--
-- Incremental (macros/incremental.sql): only the days of the orders re-judged since
-- this model's newest stamp are recomputed: the order_date of every version of every
-- order base_orders_classified stamped (that covers an order's old day and its new one
-- when its latest version moved). Those days are deleted first (pre-hook), then
-- recomputed whole from base_order_lines, so a day whose orders all got cancelled
-- disappears.

-- It also keeps the day count and total revenue that Dagster shows of the fact
-- (macros/dagster_metadata.sql, daily_figures).

{{ config(
    pre_hook="{{ delete_changed(ref('base_orders_classified'), 'order_date', daily_figures()) }}",
    post_hook="{{ keep_running_totals(daily_figures()) }}",
) }}

with

order_lines as (

    {%- set lines %}
    select * from {{ ref('base_order_lines') }}
    where status <> 'cancelled'
    {%- endset %}
    {%- if is_incremental() %}
    {%- set days = changed(ref('base_orders_classified'), 'order_date') %}
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

daily as (

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

select * from daily
{{ write_order('order_date, product_id') }}
