"""A Dagster instance folder (DAGSTER_HOME) ready for the platform's processes.

Every entry point that starts Dagster (`make dev` / `make check`, `make serve`, the
soak, the browser test, the image) prepares its home here: the instance file put in, and
a fresh instance made quiet before its daemon first starts (the run-retry cursors,
dagster_internals.py).

instance/dagster.yaml holds the settings every instance shares (pools, run queue, run
monitoring, retries, retention). The home's file is it merged with a storage: a
deployment's layer (deploy/dagster.yaml, PostgreSQL), or else Dagster's SQLite files in
the home itself, through classes that keep their connections (sqlite_storage.py). Each
setting comes from one place; Dagster reads one file per instance, with no include.

    python -m retail_platform.instance HOME [LAYER] [--file-only]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from dagster import DagsterInstance

from retail_platform.dagster_internals import seed_run_retry_cursors
from retail_platform.settings import PROJECT_ROOT

INSTANCE_YAML = PROJECT_ROOT / "instance" / "dagster.yaml"
DEPLOY_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"


# The keys that choose an instance's storage (Dagster's instance schema).
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def sqlite_storage(home: Path) -> dict:
    """Dagster's SQLite storage in `home`, laid out as Dagster lays out a home without
    a storage setting, by the classes of sqlite_storage.py."""
    folders = {
        "run_storage": ("PooledSqliteRunStorage", "history"),
        "event_log_storage": ("PooledSqliteEventLogStorage", "history/runs"),
        "schedule_storage": ("PooledSqliteScheduleStorage", "schedules"),
    }
    return {
        key: {
            "module": "retail_platform.sqlite_storage",
            "class": cls,
            "config": {"base_dir": str(home.resolve() / folder)},
        }
        for key, (cls, folder) in folders.items()
    }


def instance_settings(home: Path, layer: Path | None = None) -> dict:
    """instance/dagster.yaml with `layer`'s settings added (a key in both is an error),
    and the SQLite storage in `home` unless the layer chooses a storage."""
    shared = yaml.safe_load(INSTANCE_YAML.read_text())
    added = yaml.safe_load(layer.read_text()) if layer else {}
    if both := shared.keys() & added.keys():
        raise ValueError(f"{layer} sets {sorted(both)}, already in {INSTANCE_YAML}: set each once")
    if not added.keys() & set(STORAGE_KEYS):
        added.update(sqlite_storage(home))
    return {**added, **shared}


def write_instance_file(home: Path, layer: Path | None = None) -> Path:
    """`home`/dagster.yaml: instance/dagster.yaml with its storage (`instance_settings`)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    source = f"with {layer} over it" if layer else "with the SQLite storage of this folder"
    text = (
        f"# Written by retail_platform/instance.py: instance/dagster.yaml {source}.\n"
        "# Edit those, not this file.\n"
        + yaml.safe_dump(instance_settings(home, layer), sort_keys=False)
    )
    if path.is_symlink() or not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        tmp.replace(path)  # a process starting meanwhile reads the old file or the new one
    return path


def prepare_home(home: Path, layer: Path | None = None) -> Path:
    """Create `home` with its instance file (`write_instance_file`); seed the cursors."""
    write_instance_file(home, layer)
    with DagsterInstance.from_config(str(home)) as instance:
        seed_run_retry_cursors(instance)
    return home


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument(
        "layer", type=Path, nargs="?", help="settings added to instance/dagster.yaml"
    )
    parser.add_argument(
        "--file-only",
        action="store_true",
        help="write the instance file, open no instance (an image build has no database)",
    )
    args = parser.parse_args()
    if args.file_only:
        write_instance_file(args.home, args.layer)
    else:
        prepare_home(args.home, args.layer)
