"""The one DbtProject of the code location."""

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# Under `dagster dev` re-parse on every load so model edits show up; elsewhere
# (`make setup`, tests, runs) the manifest is prepared ahead of time.
dbt_project.prepare_if_dev()
