"""A Dagster instance folder (DAGSTER_HOME) ready for the platform's processes.

Every entry point that starts Dagster (`make dev` / `make check`, `make serve`, the
soak, the browser test) prepares its home here: the instance file linked in, and a
fresh instance made quiet before its daemon first starts.

    python -m retail_platform.instance HOME [INSTANCE_YAML]
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from retail_platform.settings import PROJECT_ROOT

INSTANCE_YAML = PROJECT_ROOT / "instance" / "dagster.yaml"
# With run_retries on (instance/dagster.yaml), the daemon's run-retry consumer reads the
# event log from a cursor per event type. On a fresh instance it has none, logs a
# WARNING per type at its first start ("No cursor for event type ..., ignoring older
# events"), then starts from the newest event. Storing that same starting point first
# (the daemon's own key names: its event types' stored values, e.g. PIPELINE_FAILURE)
# leaves the behaviour unchanged and the start-up quiet. Should Dagster rename the keys,
# the warning comes back: test_instance.py starts a daemon and looks for it.
RUN_RETRY_CURSOR_KEYS = tuple(
    f"EVENT_LOG_CONSUMER_CURSOR-{event_type.value}"
    for event_type in (DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_SUCCESS)
)


def prepare_home(home: Path, instance_yaml: Path = INSTANCE_YAML) -> Path:
    """Create `home` with `instance_yaml` linked in as its dagster.yaml; seed the cursors."""
    home.mkdir(parents=True, exist_ok=True)
    link, target = home / "dagster.yaml", instance_yaml.resolve()
    if not (link.is_symlink() and link.resolve() == target):
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    seed_run_retry_cursors(home)
    return home


def seed_run_retry_cursors(home: Path) -> None:
    with DagsterInstance.from_config(str(home)) as instance:
        cursors, keys = instance.daemon_cursor_storage, set(RUN_RETRY_CURSOR_KEYS)
        missing = keys - cursors.get_cursor_values(keys).keys()
        if missing:
            newest = instance.event_log_storage.get_maximum_record_id() or 0
            cursors.set_cursor_values({key: str(newest) for key in missing})


if __name__ == "__main__":
    if not 2 <= len(sys.argv) <= 3:
        sys.exit("usage: " + __doc__.strip().splitlines()[-1].strip())
    prepare_home(Path(sys.argv[1]), *(Path(a) for a in sys.argv[2:]))
