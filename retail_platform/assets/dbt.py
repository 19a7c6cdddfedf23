"""dbt staging and marts as Dagster assets.

The translator derives everything from the dbt project itself: the top folder under
`models/` (staging, marts) is both the asset group and the key prefix, and every
model is eagerly automated unless its `meta.dagster.automation` says `none`.
Sources map onto the raw assets through `meta.dagster.asset_key` in their yml.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, AutomationCondition
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from retail_platform.assets.keys import WAREHOUSE_POOL, WAREHOUSE_RETRY
from retail_platform.project import dbt_project
from retail_platform.warehouse.base import Warehouse


class RetailDbtTranslator(DagsterDbtTranslator):
    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] not in ("model", "seed", "snapshot"):
            return spec  # sources keep the key their yml gives them
        layer = props["fqn"][1] if len(props["fqn"]) > 2 else "default"
        automation = props.get("meta", {}).get("dagster", {}).get("automation", "eager")
        return spec.replace_attributes(
            key=AssetKey([layer, props["name"]]),
            group_name=layer,
            automation_condition=AutomationCondition.eager() if automation == "eager" else None,
        )


@contextmanager
def environment(extra: Mapping[str, str]) -> Iterator[None]:
    """dbt reads its connection from env vars; point them at the run's warehouse resource."""
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=RetailDbtTranslator(),
    pool=WAREHOUSE_POOL,
    retry_policy=WAREHOUSE_RETRY,
)
def retail_dbt_models(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    with environment(warehouse.dbt_env()):
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
