"""What a dbt build's materializations say about the data: rows, typed columns, business figures.

dbt reports them itself: a post-hook on every model (dbt_project/macros/dagster_metadata.sql)
asks its own connection for the model's row count and column types right after
building it (the fact also its daily figures; a view's count and the fact's totals
are running totals, dbt_project/macros/running_totals.sql), and logs them as one JSON
line into the event stream Dagster reads. Each model's materialization is then yielded as soon as
dbt reports the model done, with its metadata: nothing waits for dbt to exit.

dagster-dbt's `fetch_row_counts()` / `fetch_column_metadata()` would ask through a dbt
adapter in the run process instead: that needs dbt-core there (kept out of it:
resources.py), and an embedded DuckDB file refuses a second connection while dbt
holds it.

Once dbt has exited, the marts it built are published for readers (snapshots.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
)
from dagster_dbt import DbtCliInvocation

from retail_platform.snapshots import Mart
from retail_platform.warehouse.base import Warehouse

MARTS_SCHEMA = "marts"
# dbt_project/macros/dagster_metadata.sql writes it before each report's JSON.
REPORT_PREFIX = "dagster_metadata "


def stream_with_data_metadata(
    context: AssetExecutionContext, invocation: DbtCliInvocation, warehouse: Warehouse
) -> Iterator[Any]:
    """The events of a dbt build as dbt emits them, each model's with its data's metadata.

    A failed build still yields what it built, then raises its error; a failed
    publication costs the readers' copy, not the build (a warning says why).
    """
    manifest = invocation.manifest
    reports: dict[str, dict[str, Any]] = {}  # what dbt reported, by unique_id
    marts: list[Mart] = []  # the marts built
    failure = None
    try:
        for message in invocation.stream_raw_events():
            report = report_in(message.raw_event)
            if report is not None:
                reports.setdefault(report.pop("unique_id"), {}).update(report)
                continue
            for event in message.to_default_asset_events(
                manifest=manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
                project=invocation.project,
            ):
                node = manifest["nodes"].get(_value(getattr(event, "metadata", {}), "unique_id"))
                if isinstance(event, Output) and node and node["resource_type"] == "model":
                    metadata = as_metadata(reports.pop(node["unique_id"], {}), node)
                    event = event.with_metadata({**event.metadata, **metadata})
                    if node["schema"] == MARTS_SCHEMA:
                        marts.append(Mart.from_node(node, manifest))
                yield event
    except Exception as exc:  # dbt's own failure, raised after its last event
        failure = exc
    publish(context, warehouse, marts)
    if failure is not None:
        raise failure


def report_in(raw_event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report a dbt JSON log event carries (macros/dagster_metadata.sql), if any."""
    info = raw_event["info"]
    if info["name"] == "JinjaLogInfo" and info["msg"].startswith(REPORT_PREFIX):
        return json.loads(info["msg"].removeprefix(REPORT_PREFIX))
    return None


def publish(context: AssetExecutionContext, warehouse: Warehouse, marts: list[Mart]) -> None:
    """Publish the built marts for readers (snapshots.py), where the warehouse needs it."""
    if not marts or not warehouse.publishes_marts:
        return
    started = time.perf_counter()
    try:
        warehouse.publish_marts(marts)
    except Exception as exc:
        context.log.warning(f"the marts were not published for readers: {exc}")
        return
    context.log.info(
        f"published {', '.join(sorted(m.table for m in marts))} for readers in {time.perf_counter() - started:.2f} s"
    )


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def as_metadata(report: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Dagster metadata from what dbt reported of one model (macros/dagster_metadata.sql);
    the columns keep the descriptions of the model's yml (`node`, its manifest entry)."""
    metadata: dict[str, MetadataValue] = {}
    if "row_count" in report:
        metadata["dagster/row_count"] = MetadataValue.int(report["row_count"])
    if "columns" in report:
        documented = {
            name.lower(): c.get("description") or None for name, c in node["columns"].items()
        }
        metadata["dagster/column_schema"] = MetadataValue.table_schema(
            TableSchema(
                columns=[
                    TableColumn(name=name, type=data_type, description=documented.get(name.lower()))
                    for name, data_type in report["columns"]
                ]
            )
        )
    for figure in ("new_rows", "changed_rows"):  # the dimensions' (report_dimension_changes)
        if figure in report:
            metadata[figure] = MetadataValue.int(report[figure])
    if "days" in report:
        metadata.update(daily_figures(report["days"], report.get("complete_day_orders")))
    return metadata


def daily_figures(
    days: list[list[Any]], complete_day_orders: int | None
) -> dict[str, MetadataValue]:
    """Business figures of fact_daily_sales, numeric so the Plots tab charts them per build.

    `days`: the two newest days, newest first, as [day, revenue, units, days, total
    revenue]; the newest is still filling up, the one before it is complete.
    """
    if not days:
        return {"days": MetadataValue.int(0)}
    latest_day, latest_revenue, _, count, total = days[0]
    figures = {
        "days": MetadataValue.int(count),
        "revenue_total": MetadataValue.float(total),
        "latest_day": MetadataValue.text(latest_day),
        "latest_day_revenue": MetadataValue.float(latest_revenue),
    }
    if len(days) > 1 and complete_day_orders is not None:
        day, revenue, units, _, _ = days[1]
        figures.update(
            {
                "complete_day": MetadataValue.text(day),
                "complete_day_revenue": MetadataValue.float(revenue),
                "complete_day_orders": MetadataValue.int(complete_day_orders),
                "complete_day_units": MetadataValue.int(units),
            }
        )
    return figures
