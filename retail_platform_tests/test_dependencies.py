"""The runtime install (pyproject's `dependencies`, without the `dev` group: the image's
`uv sync --no-dev`) is all the code location needs, and it carries no pandas: pyarrow
imports pandas into every process that builds arrays whenever pandas is installed."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_CODE = (ROOT / "retail_platform", ROOT / "deploy")


def normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def runtime_closure() -> set[str]:
    """Every distribution the project's runtime dependencies pull in (uv.lock)."""
    packages = {p["name"]: p for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    todo, seen = [("retail-platform", None)], set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras or ():
            deps += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(d["name"], tuple(d.get("extra", ()))) for d in deps]
    return {name for name, _ in seen} - {"retail-platform"}


def dev_only() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["dependency-groups"]["dev"]
    return {normalized(req.split(">")[0].split("=")[0].split("<")[0].strip()) for req in declared}


def test_the_runtime_install_has_no_pandas():
    closure = runtime_closure()
    assert "dagster" in closure and "pyarrow" in closure  # the walk found the real closure
    assert "pandas" not in closure


def test_runtime_code_imports_no_package_declared_for_dev_only():
    """Every import statement (module level or inside functions, reached by a run or not)
    of the code location and deploy/: none names a package of the `dev` group."""
    forbidden = dev_only()
    assert {"pandas", "requests", "pytest"} <= forbidden
    dists = packages_distributions()
    found = []
    for folder in RUNTIME_CODE:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    owners = {normalized(d) for d in dists.get(top, [top])}
                    if owners & forbidden:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert found == [], found


def test_a_batch_runs_without_pandas_installed(tmp_path):
    """As on an install without the dev group: pandas cannot be imported (pyarrow then
    does without it). The definitions load and a batch is generated and loaded."""
    script = """
import sys

class NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")

sys.meta_path.insert(0, NoPandas())
import deploy.serve
from retail_platform.cli import main
from retail_platform.definitions import defs

defs().resolve_all_job_defs()
sys.exit(main(["init"]) or main(["generate", "--orders", "50", "--no-progress"]))
"""
    env = {
        **os.environ,
        "RETAIL_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
        "RETAIL_WAREHOUSE": "duckdb",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch 1 loaded" in done.stdout, done.stdout
