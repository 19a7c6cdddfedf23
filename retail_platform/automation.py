"""Jobs, schedules and sensors: how data moves with no click."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    ScheduleDefinition,
    define_asset_job,
)

from retail_platform.assets.raw import raw_tables
from retail_platform.assets.simulator import simulator_batches

generate_job = define_asset_job(
    "generate_job",
    selection=AssetSelection.assets(simulator_batches),
    description="Generate one batch of customers, products and orders and load it into raw.",
)

# Observable sources are left out by AssetSelection.groups(): select the assets directly.
check_sources_job = define_asset_job(
    "check_sources_job",
    selection=AssetSelection.assets(raw_tables),
    description="Observe the raw tables (and run their checks) so new rows from any writer are noticed.",
)

generate_schedule = ScheduleDefinition(
    name="generate",
    job=generate_job,
    cron_schedule="* * * * *",
    default_status=DefaultScheduleStatus.STOPPED,  # a user turns the business on in the UI
    description="One simulator batch a minute.",
)

check_sources_schedule = ScheduleDefinition(
    name="check_sources_every_minute",
    job=check_sources_job,
    cron_schedule="* * * * *",
    default_status=DefaultScheduleStatus.RUNNING,
)

# The built-in automation sensor is stopped by default; this one runs from the start.
automation_sensor = AutomationConditionSensorDefinition(
    "retail_automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=5,
)
