"""Python asset checks on the raw tables (dbt tests become checks on the models by themselves)."""

from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    build_last_update_freshness_checks,
    multi_asset_check,
)

from retail_platform.assets.keys import RAW_KEYS
from retail_platform.warehouse.base import Warehouse

# More than this share of raw payloads that are not JSON objects means a broken writer.
UNPARSABLE_SHARE_LIMIT = 0.05
# Raw data older than this is stale: the generate schedule (or another writer) stopped.
RAW_FRESHNESS = timedelta(hours=24)

raw_freshness_checks = build_last_update_freshness_checks(
    assets=list(RAW_KEYS.values()),
    lower_bound_delta=RAW_FRESHNESS,
    severity=AssetCheckSeverity.WARN,
)


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            "payloads_parse",
            asset=key,
            description=f"At most {UNPARSABLE_SHARE_LIMIT:.0%} of payloads fail to parse as JSON objects.",
        )
        for key in RAW_KEYS.values()
    ],
    can_subset=True,
)
def raw_payloads_parse(context: AssetCheckExecutionContext, warehouse: Warehouse):
    for check_key in context.selected_asset_check_keys:
        rows, bad = warehouse.unparsable_payloads(check_key.asset_key.path[-1])
        share = bad / rows if rows else 0.0
        yield AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=check_key.name,
            passed=share <= UNPARSABLE_SHARE_LIMIT,
            severity=AssetCheckSeverity.WARN,
            metadata={"rows": rows, "unparsable_rows": bad, "unparsable_share": round(share, 5)},
        )


RAW_CHECKS: list[AssetChecksDefinition] = [*raw_freshness_checks, raw_payloads_parse]
