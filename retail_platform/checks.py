"""Python asset checks: raw tables and quarantines (dbt tests become checks on the models by themselves)."""

from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AutomationCondition,
    build_last_update_freshness_checks,
    multi_asset_check,
)

from retail_platform.assets.keys import ENTITIES, RAW_KEYS
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


# A quarantine holding more than this share of a raw table's rows is worth a look.
QUARANTINE_SHARE_LIMIT = 0.05
QUARANTINE_KEYS = {entity: AssetKey(["staging", f"quarantine_{entity}"]) for entity in ENTITIES}


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            "quarantine_share",
            asset=key,
            description=f"At most {QUARANTINE_SHARE_LIMIT:.0%} of raw rows are set aside; metadata counts them by reason.",
            # Evaluated whenever dbt rebuilds the quarantine, with no click.
            automation_condition=AutomationCondition.eager(),
        )
        for key in QUARANTINE_KEYS.values()
    ],
    can_subset=True,
)
def quarantine_share(context: AssetCheckExecutionContext, warehouse: Warehouse):
    for check_key in context.selected_asset_check_keys:
        entity = check_key.asset_key.path[-1].removeprefix("quarantine_")
        by_reason = dict(
            warehouse.query(
                f"select reason, count(*) from staging.quarantine_{entity} group by reason"
            )
        )
        raw_rows = warehouse.observe(f"raw_{entity}").row_count
        quarantined = sum(by_reason.values())
        share = quarantined / raw_rows if raw_rows else 0.0
        yield AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=check_key.name,
            passed=share <= QUARANTINE_SHARE_LIMIT,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "raw_rows": raw_rows,
                "quarantined_rows": quarantined,
                "quarantined_share": round(share, 5),
                **{f"reason/{reason}": int(count) for reason, count in sorted(by_reason.items())},
            },
        )


CHECKS: list[AssetChecksDefinition] = [*raw_freshness_checks, raw_payloads_parse, quarantine_share]
