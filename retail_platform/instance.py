"""A Dagster instance folder (DAGSTER_HOME) ready for the platform's processes.

Every entry point that starts Dagster (`make dev` / `make check`, `make serve`, the
soak, the browser test) prepares its home here: the instance file linked in, and a
fresh instance made quiet before its daemon first starts (the run-retry cursors,
dagster_internals.py).

    python -m retail_platform.instance HOME [INSTANCE_YAML]
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster import DagsterInstance

from retail_platform.dagster_internals import seed_run_retry_cursors
from retail_platform.settings import PROJECT_ROOT

INSTANCE_YAML = PROJECT_ROOT / "instance" / "dagster.yaml"


def prepare_home(home: Path, instance_yaml: Path = INSTANCE_YAML) -> Path:
    """Create `home` with `instance_yaml` linked in as its dagster.yaml; seed the cursors."""
    home.mkdir(parents=True, exist_ok=True)
    link, target = home / "dagster.yaml", instance_yaml.resolve()
    if not (link.is_symlink() and link.resolve() == target):
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    with DagsterInstance.from_config(str(home)) as instance:
        seed_run_retry_cursors(instance)
    return home


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit("usage: " + __doc__.strip().splitlines()[-1].strip())
    prepare_home(Path(sys.argv[1]), *(Path(a) for a in sys.argv[2:]))
