"""dbt staging, intermediate and marts as Dagster assets.

The translator derives everything from the dbt project itself: the top folder under
`models/` (staging, intermediate, marts) is both the asset group and the key prefix,
every model is eagerly automated, and `meta.dagster.freshness` (dbt_project.yml)
becomes the asset's `FreshnessPolicy`. Sources map onto the raw assets through
`meta.dagster.asset_key` in their yml.
"""

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Failure,
    FreshnessPolicy,
    ResourceParam,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from retail_platform.assets.dbt_metadata import stream_with_data_metadata
from retail_platform.assets.keys import WAREHOUSE_POOL, WAREHOUSE_RETRY
from retail_platform.conditions import eager
from retail_platform.dbt_child import child_env
from retail_platform.project import dbt_project
from retail_platform.retention import prune_paths, retention_window
from retail_platform.warehouse.base import Warehouse

# The platform's build. Unit tests check the SQL, not the data: CI runs them (the test
# suite); dbt advises against them in production builds, where each is one more node.
# dbt's JSON artifacts (manifest.json, run_results.json) are not read back: the events
# carry everything. Not writing them saves ~0.4 s of each build.
BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test", "--no-write-json")
# Where dagster-dbt keeps the DbtProject in each spec's metadata.
DAGSTER_DBT_PROJECT_KEY = "dagster_dbt/project"


class RetailDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] not in ("model", "seed", "snapshot"):
            return spec  # sources keep the key their yml gives them
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else "default"
        freshness = props.get("meta", {}).get("dagster", {}).get("freshness")
        return spec.replace_attributes(
            key=AssetKey([layer, props["name"]]),
            group_name=layer,
            # The model's own description (its yml), not dagster-dbt's default, which
            # appends the model's whole SQL under "#### Raw SQL".
            description=props.get("description") or None,
            automation_condition=eager(),
            freshness_policy=FreshnessPolicy.time_window(
                warn_window=timedelta(minutes=freshness["warn_after_minutes"]),
                fail_window=timedelta(minutes=freshness["fail_after_minutes"]),
            )
            if freshness
            else None,
            # The DbtProject object is bookkeeping that the UI can only show as
            # "(unserializable)"; the resource has the project dir already.
            metadata={k: v for k, v in spec.metadata.items() if k != DAGSTER_DBT_PROJECT_KEY},
        )


def check_dbt_sees(warehouse: Warehouse) -> dict[str, str]:
    """The connection settings dbt inherits; they must name the run's warehouse.

    dbt's profile reads the warehouse from environment variables, the same ones the
    warehouse resource was configured from, so they agree unless a resource was given
    explicitly (a test, a job's config). Setting them here instead would mean writing
    `os.environ` in the middle of a run; a clear error is better.
    """
    inherited = child_env(os.environ)
    expected = warehouse.dbt_env()
    differs = {
        name: value
        for name, value in expected.items()
        if name in inherited and inherited[name] != value
    }
    if differs:
        names = ", ".join(sorted(differs))
        raise Failure(
            f"dbt would connect elsewhere than the warehouse resource ({warehouse.describe()}): "
            f"set {names} in the environment to the resource's values",
            allow_retries=False,
        )
    return {name: inherited.get(name, "") for name in expected}


@contextmanager
def partial_parse_target(context: AssetExecutionContext, env: Mapping[str, str]) -> Iterator[Path]:
    """A fresh target path per invocation, seeded with the partial-parse state of this warehouse.

    dagster-dbt gives every invocation its own target folder and copies
    `target/partial_parse.msgpack` into it. dbt throws that state away and parses the
    whole project again (~4 s) when the profile differs from the one it was written
    with, and the profile holds the warehouse (the DuckDB path differs between `make
    setup`, `dagster dev`, the tests). So keep one state file per warehouse profile
    (keyed by the env dbt reads its connection from), seed each invocation with it and
    store the invocation's updated state back (atomically; the last writer wins, any
    version is valid: dbt re-parses files whose hashes changed).
    """
    root = dbt_project.project_dir / dbt_project.target_path
    key = hashlib.sha1(repr(sorted(env.items())).encode()).hexdigest()[:12]
    cached = root / "partial_parse" / f"{key}.msgpack"
    op_name = context.op_execution_context.op.name
    target = root / f"{op_name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    # Folders of invocations that failed or whose worker was killed, and the state of
    # warehouses not used lately (each test has its own), go once the window has passed.
    window = retention_window()
    prune_paths(root.glob(f"{op_name}-*"), window)
    prune_paths((root / "partial_parse").glob("*.msgpack"), window)
    target.mkdir(parents=True, exist_ok=True)
    if cached.exists():
        shutil.copyfile(cached, target / "partial_parse.msgpack")
    succeeded = False
    try:
        yield target
        succeeded = True
    finally:
        produced = target / "partial_parse.msgpack"
        if produced.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{uuid.uuid4().hex[:7]}.tmp")
            shutil.copyfile(produced, tmp)
            os.replace(tmp, cached)
        if succeeded:  # about 3.5 MB an invocation; a failed one keeps its dbt.log
            shutil.rmtree(target, ignore_errors=True)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=RetailDbtTranslator(),
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
)
def retail_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: ResourceParam[Warehouse]
) -> Iterator[Any]:
    with partial_parse_target(context, check_dbt_sees(warehouse)) as path:
        invocation = dbt.cli(
            list(BUILD_ARGS),
            context=context,
            target_path=path,
        )
        yield from stream_with_data_metadata(context, invocation, warehouse)
