"""The one DbtProject of the code location."""

import os
import re
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
# The venv's own dbt: runs work without an activated venv.
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"
# What Dagster runs: the same dbt, killed with the run worker that started it (dbt_child.py).
DBT_BOUND_EXECUTABLE = Path(sys.executable).parent / "retail-dbt"
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def _manifest_is_current(project: DbtProject) -> bool:
    """The manifest exists, is newer than every dbt source file and was parsed for this warehouse."""
    manifest = project.manifest_path
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for name in _SOURCES:
        path = project.project_dir / name
        files = path.rglob("*") if path.is_dir() else [path]
        if any(f.stat().st_mtime > built for f in files if f.is_file()):
            return False
    with manifest.open() as f:  # "metadata" comes first: no need to load the whole file
        head = f.read(4096)
    adapter = re.search(r'"adapter_type":\s*"(\w+)"', head)
    return bool(adapter) and adapter.group(1) == os.environ.get("RETAIL_WAREHOUSE", "duckdb")


# Under `dagster dev` the manifest follows model edits. The stock `prepare_if_dev()` would
# re-parse in every process dagster dev starts (code server, each run), since they all
# inherit its dev flag: seconds of CPU per run. Parse only when something changed.
if not _manifest_is_current(dbt_project):
    dbt_project.prepare_if_dev()


def dbt_argv(command: str, work_dir: Path, *extra: str) -> list[str]:
    """argv to run dbt on this project by hand (tests, benchmarks), with its target/ and
    logs/ under `work_dir`, so parallel runs never share them."""
    return [
        str(DBT_EXECUTABLE), command,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
        *extra,
    ]  # fmt: skip
