"""Tell a running Dagster of a writer's loads at once, through the webserver's external
asset reporting API (`POST /report_asset_observation/<key>`).

A writer outside Dagster (`retail-sim generate`) reports what the `check_sources` look
would otherwise find seconds later: the same observation, with the same data version,
so the look then finds nothing new. Plain HTTP from the standard library: the CLI does
not import Dagster.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from retail_platform.warehouse.base import RAW_SCHEMA, RAW_TABLES, Warehouse

# Where `make dev` / `make serve` serve the UI; set by `make generate` when one answers.
URL_VARIABLE = "DAGSTER_URL"
TIMEOUT_SECONDS = 5.0


class ReportError(RuntimeError):
    """The webserver could not be told (the look notices the rows anyway)."""


def report_raw_tables(warehouse: Warehouse, url: str) -> int:
    """Report one observation per raw table, as `check_sources` would log it; returns how
    many were accepted."""
    with warehouse.session():
        states = {table: warehouse.observe(table) for table in RAW_TABLES}
    for table, state in states.items():
        body = {
            "data_version": state.data_version,
            "metadata": {"dagster/row_count": state.row_count},
        }
        request = urllib.request.Request(
            f"{url.rstrip('/')}/report_asset_observation/{RAW_SCHEMA}/{table}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise ReportError(f"{url} answered {exc.code}: {exc.read()[:200]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReportError(f"{url} not reachable ({reason})") from None
    return len(states)


def dagster_url() -> str | None:
    return os.environ.get(URL_VARIABLE) or None
