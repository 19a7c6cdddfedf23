"""Who may import whom: the product imports no tooling, the tests no tool, and no module
edits `sys.path` (what the tools and tests share is in devtools/, imported from the
repository root)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Package -> the top-level packages of this repository it must not import.
FORBIDDEN = {
    "retail_platform": {"bench", "devtools", "retail_platform_tests", "deploy"},
    "retail_platform_tests": {"bench"},
    "devtools": {"bench", "retail_platform_tests"},
}


def imported(tree: ast.AST) -> set[str]:
    """The top-level names of every module `tree` imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def edits_sys_path(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
        for node in ast.walk(tree)
    )


def test_imports_follow_the_layers(root: Path = ROOT):
    wrong = {}
    for package in ("retail_platform", "retail_platform_tests", "devtools", "bench", "deploy"):
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            found = imported(tree) & FORBIDDEN.get(package, set())
            if edits_sys_path(tree):
                found.add("sys.path")
            if found:
                wrong[str(path.relative_to(root))] = sorted(found)
    assert wrong == {}, wrong
