"""The one DbtProject of the code location."""

import re
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from retail_platform.settings import DBT_PROJECT_DIR
from retail_platform.warehouse import warehouse_kind
from retail_platform.warehouse.base import WarehouseError

# How the project runs dbt, always: dbt with its profile's defaults, killed with the
# process that started it (dbt_child.py).
DBT_BOUND_EXECUTABLE = Path(sys.executable).parent / "retail-dbt"
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "macros", "tests")


def prepare(project: DbtProject) -> None:
    """Parse the project when (and only when) a dbt file changed or the warehouse did."""
    if not manifest_is_current(project):
        print("dbt parse: a dbt file or the warehouse changed since the manifest was made")
        parse_manifest(project)


def prepare_if_dev(project: DbtProject) -> None:
    """Under `dagster dev`, `prepare` the project (`make setup` does it for the rest).

    Instead of `DbtProject.prepare_if_dev()`, which parses in every process `dagster
    dev` starts (the code server, each run: they all inherit its dev flag), seconds of
    CPU per run, and runs the `dbt` on PATH, where this project's lives in .venv-dbt.
    The check itself (file times and the manifest's first 4 KB) costs under a
    millisecond; outside `dagster dev` it is not made.
    """
    if project.preparer.using_dagster_dev():
        prepare(project)


def parse_manifest(project: DbtProject) -> None:
    """`dbt parse`: the manifest the dbt assets are built from."""
    subprocess.run(
        [
            str(DBT_BOUND_EXECUTABLE), "parse", "--quiet",
            "--project-dir", str(project.project_dir),
            "--profiles-dir", str(project.profiles_dir),
            "--target-path", str(project.project_dir / project.target_path),
        ],
        check=True,
    )  # fmt: skip


def manifest_is_current(project: DbtProject) -> bool:
    """The manifest exists, is newer than every dbt source file and was parsed for this warehouse."""
    kind = warehouse_kind()  # first: a bad setting is its one-line error, not dbt's
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
    return bool(adapter) and adapter.group(1) == kind


def dbt_argv(command: str, work_dir: Path, *extra: str) -> list[str]:
    """argv to run dbt on this project by hand (tests, benchmarks), with its target/ and
    logs/ under `work_dir`, so parallel runs never share them."""
    return [
        str(DBT_BOUND_EXECUTABLE), command,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
        *extra,
    ]  # fmt: skip


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
prepare_if_dev(dbt_project)

if __name__ == "__main__":  # make setup
    try:
        prepare(dbt_project)
    except WarehouseError as exc:
        sys.exit(f"retail_platform.project: error: {exc}")
