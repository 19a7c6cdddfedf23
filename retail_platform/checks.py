"""Python asset checks: raw tables and quarantines (dbt tests become checks on the models by themselves).

Freshness is not a check here: the marts carry a `FreshnessPolicy` (dbt_project.yml meta)
that Dagster's freshness daemon evaluates with no run.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    ResourceParam,
    multi_asset_check,
)

from retail_platform.assets.keys import RAW_KEYS
from retail_platform.conditions import eager
from retail_platform.warehouse.base import ENTITIES, Warehouse

# More than this share of raw payloads that are not JSON objects means a broken writer.
UNPARSABLE_SHARE_LIMIT = 0.05
# The share is taken over the rows of the newest 10 minutes of loads
# (Warehouse.unparsable_payloads): ten batches at the default rate, so a broken writer
# shows at once, and the check's cost follows the load rate, not the history.
RECENT_MINUTES = 10


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            "payloads_parse",
            asset=key,
            description=f"At most {UNPARSABLE_SHARE_LIMIT:.0%} of the payloads of the last {RECENT_MINUTES} minutes of loads fail to parse as JSON objects.",
            # Run when new rows are observed, in the automation's run of the models they feed.
            automation_condition=eager(),
        )
        for key in RAW_KEYS.values()
    ],
    can_subset=True,
    # Nothing waits on this check (it warns): in a generate run its step goes after the
    # dbt build (alphabetical order would put it first), so the marts do not wait for it.
    op_tags={"dagster/priority": "-1"},
)
def raw_payloads_parse(context: AssetCheckExecutionContext, warehouse: ResourceParam[Warehouse]):
    with warehouse.session():
        counts = {
            key: warehouse.unparsable_payloads(key.asset_key.path[-1], RECENT_MINUTES)
            for key in context.selected_asset_check_keys
        }
    for check_key, (rows, bad) in counts.items():
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
            automation_condition=eager(),
        )
        for key in QUARANTINE_KEYS.values()
    ],
    can_subset=True,
)
def quarantine_share(context: AssetCheckExecutionContext, warehouse: ResourceParam[Warehouse]):
    counts = {}
    with warehouse.session():
        for check_key in context.selected_asset_check_keys:
            entity = check_key.asset_key.path[-1].removeprefix("quarantine_")
            query = f"select reason, count(*) from staging.quarantine_{entity} group by reason"
            counts[check_key] = (
                dict(warehouse.query(query)),
                warehouse.observe(f"raw_{entity}").row_count,
            )
    for check_key, (by_reason, raw_rows) in counts.items():
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


CHECKS: list[AssetChecksDefinition] = [raw_payloads_parse, quarantine_share]
