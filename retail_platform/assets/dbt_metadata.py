"""What a dbt build's materializations say about the data: rows, typed columns, business figures.

dagster-dbt's `fetch_row_counts()` / `fetch_column_metadata()` query through a dbt
adapter in the run process, which needs dbt-core there (kept out of it: resources.py),
and on DuckDB they would query while the dbt process still holds the file. So the
figures are read once dbt has exited, through the warehouse resource, in one session:
one count per model, the types of every model's columns, a few aggregates of the
marts; then the marts are published for readers (snapshots.py). The events wait for
that (their timestamps move by the build's length plus this step); docs/freshness.md
has the cost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
)

from retail_platform.warehouse.base import Warehouse, check_identifier

MARTS_SCHEMA = "marts"
FACT = "fact_daily_sales"

# Per day over the whole fact table, newest first: the latest day is still filling up
# (the simulator writes into it), the one before it is the latest complete day.
_DAILY = f"""
with days as (
    select order_date, sum(revenue) as revenue, sum(units_sold) as units
    from {MARTS_SCHEMA}.{FACT}
    group by order_date
)
select order_date, revenue, units, count(*) over () as days, sum(revenue) over () as total
from days
order by order_date desc
limit 2
"""
# Orders of one day: the fact's order_count is per product, an order may hold several.
_ORDERS_OF_DAY = (
    "select count(distinct order_id) from staging.stg_order_items "
    "where status <> 'cancelled' and order_date = {day}"
)


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def with_data_metadata(
    context: AssetExecutionContext,
    events: Iterable[Any],
    manifest: Mapping[str, Any],
    warehouse: Warehouse,
) -> Iterator[Any]:
    """`events` of a dbt build, once it has finished, with the data's metadata added.

    A failed build still yields what it built, then raises its error; a failed
    metadata query costs the metadata, not the build (a warning says why).
    """
    collected: list[Any] = []
    failure = None
    try:
        collected.extend(events)
    except Exception as exc:  # dbt's own failure, raised after the events it had
        failure = exc
    built = {}  # event index -> manifest node
    for index, event in enumerate(collected):
        if isinstance(event, Output | AssetMaterialization):
            node = manifest["nodes"].get(_value(event.metadata, "unique_id"))
            if node and node["resource_type"] == "model":
                built[index] = node
    extra: dict[int, dict] = {}
    if built:
        started = time.perf_counter()
        try:
            extra = read_metadata(warehouse, built)
        except Exception as exc:
            context.log.warning(f"no row counts or mart figures for this build: {exc}")
        else:
            context.log.info(
                f"row counts, column types and mart figures of {len(built)} models "
                f"read in {time.perf_counter() - started:.2f} s"
            )
    for index, event in enumerate(collected):
        if index in extra:
            event = event.with_metadata({**event.metadata, **extra[index]})
        yield event
    if failure is not None:
        raise failure


def read_metadata(warehouse: Warehouse, built: Mapping[int, Mapping[str, Any]]) -> dict[int, dict]:
    """The metadata of each built model (manifest node, by any key); publishes the marts."""
    with warehouse.session():
        extra = _describe(warehouse, built)
        names = {node["alias"]: index for index, node in built.items()}
        marts = {
            node["alias"]: node["config"].get("keys") or []
            for node in built.values()
            if node["schema"] == MARTS_SCHEMA
        }
        if FACT in names:
            extra[names[FACT]].update(_fact_figures(warehouse))
        for mart, (new, changed) in warehouse.publish_marts(marts).items():
            extra[names[mart]].update(
                {"new_rows": MetadataValue.int(new), "changed_rows": MetadataValue.int(changed)}
            )
    return extra


def _describe(warehouse: Warehouse, built: Mapping[int, Mapping[str, Any]]) -> dict[int, dict]:
    """Row count and typed column schema of every built model, in two queries."""
    relations = {
        index: (check_identifier(node["schema"]), check_identifier(node["alias"]))
        for index, node in built.items()
    }
    counts = dict(
        warehouse.query(
            " union all ".join(
                f"select {index}, count(*) from {schema}.{table}"
                for index, (schema, table) in relations.items()
            )
        )
    )
    schemas = ", ".join(sorted({f"'{schema}'" for schema, _ in relations.values()}))
    columns: dict[tuple[str, str], list[TableColumn]] = {}
    for schema, table, column, data_type in warehouse.query(
        "select table_schema, table_name, column_name, data_type "
        f"from information_schema.columns where table_schema in ({schemas}) "
        "order by table_schema, table_name, ordinal_position"
    ):
        columns.setdefault((schema, table), []).append(
            TableColumn(name=column, type=data_type.lower())
        )
    return {
        index: {
            "dagster/row_count": MetadataValue.int(int(counts[index])),
            "dagster/column_schema": MetadataValue.table_schema(
                TableSchema(columns=columns.get(relation, []))
            ),
        }
        for index, relation in relations.items()
    }


def _fact_figures(warehouse: Warehouse) -> dict[str, MetadataValue]:
    """Business figures of fact_daily_sales, numeric so the Plots tab charts them per build."""
    rows = warehouse.query(_DAILY)
    if not rows:
        return {"days": MetadataValue.int(0)}
    latest_day, latest_revenue, _, days, total = rows[0]
    figures = {
        "days": MetadataValue.int(int(days)),
        "revenue_total": MetadataValue.float(float(total)),
        "latest_day": MetadataValue.text(str(latest_day)),
        "latest_day_revenue": MetadataValue.float(float(latest_revenue)),
    }
    if len(rows) > 1:
        day, revenue, units, _, _ = rows[1]
        ((orders,),) = warehouse.query(_ORDERS_OF_DAY.format(day=f"cast('{day}' as date)"))
        figures.update(
            {
                "complete_day": MetadataValue.text(str(day)),
                "complete_day_revenue": MetadataValue.float(float(revenue)),
                "complete_day_orders": MetadataValue.int(int(orders)),
                "complete_day_units": MetadataValue.int(int(units)),
            }
        )
    return figures
