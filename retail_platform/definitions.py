"""The code location: simulator -> raw -> staging -> marts in one lineage graph."""

from dagster import Definitions, definitions, in_process_executor


@definitions
def defs() -> Definitions:
    # Built lazily so resources are chosen from the environment at load time, not import time.
    from retail_platform.assets.dbt import retail_dbt_models
    from retail_platform.assets.raw import raw_tables
    from retail_platform.assets.simulator import simulator_batches
    from retail_platform.automation import (
        automation_sensor,
        check_sources_job,
        check_sources_sensor,
        generate_job,
        generate_schedule,
    )
    from retail_platform.checks import CHECKS
    from retail_platform.resources import dbt_resource, warehouse_resource
    from retail_platform.retention import prune_history

    return Definitions(
        assets=[simulator_batches, raw_tables, retail_dbt_models],
        asset_checks=CHECKS,
        jobs=[generate_job, check_sources_job],
        schedules=[generate_schedule],
        sensors=[check_sources_sensor, automation_sensor, prune_history],
        resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
        # Steps run inside the run's own process: a subprocess per step would pay the
        # import of dagster, dbt and these definitions again, for steps of a second or less.
        executor=in_process_executor,
    )
