"""A Dagster instance folder (DAGSTER_HOME) ready for the platform's processes.

Every entry point that starts Dagster (`make dev` / `make check`, `make serve`, the
soak, the browser test, the image) prepares its home here: the instance file put in, and
a fresh instance made quiet before its daemon first starts (the run-retry cursors,
dagster_internals.py).

instance/dagster.yaml holds the settings every instance shares (pools, run queue, run
monitoring, retries, retention); `make dev` links it in as it is. A deployment adds its
storage in a layer of its own (deploy/dagster.yaml): the home then gets the two merged,
each setting from one file. Dagster reads one file per instance, with no include.

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


def instance_settings(layer: Path) -> dict:
    """instance/dagster.yaml with `layer`'s settings added; a key in both is an error."""
    shared, added = (yaml.safe_load(path.read_text()) for path in (INSTANCE_YAML, layer))
    if both := shared.keys() & added.keys():
        raise ValueError(f"{layer} sets {sorted(both)}, already in {INSTANCE_YAML}: set each once")
    return {**added, **shared}


def write_instance_file(home: Path, layer: Path | None = None) -> Path:
    """`home`/dagster.yaml: a link to instance/dagster.yaml, or it merged with `layer`."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if layer is None:
        target = INSTANCE_YAML.resolve()
        if not (path.is_symlink() and path.resolve() == target):
            path.unlink(missing_ok=True)
            path.symlink_to(target)
        return path
    text = (
        "# Written by retail_platform/instance.py: instance/dagster.yaml with a layer over it\n"
        "# (deploy/dagster.yaml for the deployment). Edit those, not this file.\n"
        + yaml.safe_dump(instance_settings(layer), sort_keys=False)
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
