"""The dbt project compiles for StarRocks, and what it compiles is StarRocks SQL.

No StarRocks server runs here, so this is the check the StarRocks path gets without
one: `dbt compile --target starrocks` (the profile pins `version`, and
`--no-populate-cache` skips listing relations, so dbt never connects), then every
compiled model (first build and incremental branches) is parsed with sqlglot's
StarRocks dialect and searched for constructs StarRocks rejects. It proves the SQL is
well-formed and free of DuckDB-only syntax, not that StarRocks accepts every function.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import pytest
import sqlglot
from sqlglot.errors import SqlglotError

from retail_platform.project import DBT_PROJECT_DIR, dbt_argv

# Constructs StarRocks 3.5 rejects or reads differently, which must never appear in
# StarRocks SQL (sqlglot's StarRocks dialect accepts several of them): DuckDB-only
# syntax and functions (a warehouse difference that leaked out of the dispatching
# macros), and forms StarRocks misreads or plans badly.
STARROCKS_REJECTS = {
    "|| (StarRocks: OR unless sql_mode PIPES_AS_CONCAT)": re.compile(r"\|\|"),
    "merge into": re.compile(r"\bmerge\s+into\b", re.I),
    "qualify": re.compile(r"\bqualify\b", re.I),
    "ilike": re.compile(r"\bilike\b", re.I),
    "IN-subquery OR IN-subquery (a nested-loop join)": re.compile(
        r"\bin\s*\(\s*select\b[^()]*\)\s*or\s+[\w.`]+\s+in\s*\(\s*select\b", re.I
    ),
    "create or replace": re.compile(r"\bcreate\s+or\s+replace\s+table\b", re.I),
}
DUCKDB_ONLY = {
    "->> operator": re.compile(r"->>"),
    ":: cast": re.compile(r"::"),
    "json_extract_string": re.compile(r"\bjson_extract_string\s*\(", re.I),
    "json_extract": re.compile(r"\bjson_extract\s*\(", re.I),
    "json_type": re.compile(r"\bjson_type\s*\(", re.I),
    "generate_subscripts": re.compile(r"\bgenerate_subscripts\s*\(", re.I),
    "with ordinality": re.compile(r"\bwith\s+ordinality\b", re.I),
    "try_cast": re.compile(r"\btry_cast\s*\(", re.I),
    "regexp_matches": re.compile(r"\bregexp_matches\s*\(", re.I),
    "timestamptz": re.compile(r"\btimestamptz\b", re.I),
    "json[] array type": re.compile(r"\bjson\s*\[\]", re.I),
}

# Dimensions are SCD1 upserts: Primary Key tables on StarRocks.
PRIMARY_KEY_MODELS = {"dim_customers": ["customer_id"], "dim_products": ["product_id"]}


def _free_port() -> int:
    """A port nothing listens on: dbt must compile without reaching any server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def starrocks_parse_errors(sql: str) -> list[str]:
    """Parse errors of `sql` in sqlglot's StarRocks dialect (empty when it parses)."""
    try:
        sqlglot.parse_one(sql, read="starrocks")
    except SqlglotError as error:
        return [str(error).splitlines()[0]]
    return []


def compile_for_starrocks(work, *extra: str) -> dict:
    """`dbt compile` of every model for the starrocks target, no server; dbt's manifest."""
    env = {
        **os.environ,
        "RETAIL_WAREHOUSE": "starrocks",
        "STARROCKS_HOST": "127.0.0.1",
        "STARROCKS_PORT": str(_free_port()),
        "STARROCKS_USER": "root",
        "STARROCKS_PASSWORD": "",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        dbt_argv(
            "compile",
            work,
            "--target",
            "starrocks",
            "--no-populate-cache",
            "--select",
            "resource_type:model",
            *extra,
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"dbt compile failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((work / "target" / "manifest.json").read_text())


@pytest.fixture(scope="session")
def starrocks_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The first build's SQL of every model (is_incremental() false)."""
    return compile_for_starrocks(tmp_path_factory.mktemp("dbt_starrocks"))


@pytest.fixture(scope="session")
def incremental_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The incremental branches rendered (macros/incremental.sql: assume_incremental)."""
    work = tmp_path_factory.mktemp("dbt_starrocks_incremental")
    return compile_for_starrocks(work, "--vars", '{"assume_incremental": true}')


def model_sql(manifest: dict) -> dict[str, str]:
    return {
        node["name"]: node.get("compiled_code") or ""
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }


@pytest.fixture(scope="session")
def compiled_models(starrocks_manifest: dict, incremental_manifest: dict) -> dict[str, str]:
    """Model name (incremental ones also as `<name>:incremental`) -> compiled StarRocks SQL."""
    first, incremental = model_sql(starrocks_manifest), model_sql(incremental_manifest)
    return first | {
        f"{name}:incremental": sql for name, sql in incremental.items() if sql != first[name]
    }


def test_incremental_branches_are_checked_too(compiled_models: dict[str, str]) -> None:
    # The models that read only their new rows (macros/incremental.sql): their
    # incremental SQL differs, with the lookups of what they hold left as subqueries.
    for name in ("int_order_items", "int_orders_classified", "int_order_lines", "int_daily_sales"):
        assert (
            "_stamp > coalesce((select max(_stamp) from" in compiled_models[f"{name}:incremental"]
        )
    assert "load_label in (select" in compiled_models["int_orders_parsed:incremental"]


def test_every_model_compiles_for_starrocks(compiled_models: dict[str, str]) -> None:
    model_files = {path.stem for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    assert {name.split(":")[0] for name in compiled_models} == model_files
    empty = sorted(name for name, sql in compiled_models.items() if not sql.strip())
    assert not empty, f"models without compiled SQL: {empty}"


def test_compiled_models_parse_as_starrocks_sql(compiled_models: dict[str, str]) -> None:
    errors = {
        name: problems
        for name, sql in sorted(compiled_models.items())
        if (problems := starrocks_parse_errors(sql))
    }
    assert not errors, f"StarRocks SQL that sqlglot cannot parse: {errors}"


def test_compiled_models_use_nothing_starrocks_rejects(compiled_models: dict[str, str]) -> None:
    leaks = {
        name: sorted(
            label
            for label, pattern in (DUCKDB_ONLY | STARROCKS_REJECTS).items()
            if pattern.search(sql)
        )
        for name, sql in sorted(compiled_models.items())
    }
    leaks = {name: found for name, found in leaks.items() if found}
    assert not leaks, f"constructs StarRocks rejects or misreads: {leaks}"


def test_starrocks_sql_reads_json_with_starrocks_functions(
    compiled_models: dict[str, str],
) -> None:
    parsed = compiled_models["int_orders_parsed"]
    assert "get_json_string(payload, '$.order_id')" in parsed
    assert "json_keys(payload)" in parsed
    items = compiled_models["int_order_items"]
    assert "as array<json>" in items and "array_generate(" in items


def test_models_read_and_write_the_contract_databases(compiled_models: dict[str, str]) -> None:
    assert "`raw`.`raw_orders`" in compiled_models["int_orders_parsed"]
    assert "`staging`.`int_daily_sales`" in compiled_models["fact_daily_sales"]


def test_dimensions_are_primary_key_tables(starrocks_manifest: dict) -> None:
    models = {
        node["name"]: node
        for node in starrocks_manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    for name, keys in PRIMARY_KEY_MODELS.items():
        config = models[name]["config"]
        assert models[name]["schema"] == "marts"
        assert config["materialized"] == "table"
        assert config["table_type"] == "PRIMARY", name
        assert config["keys"] == keys, name
        assert config["distributed_by"] == keys, name
        assert config["buckets"], f"{name}: set buckets explicitly"


def test_every_table_model_sets_keys_and_buckets(starrocks_manifest: dict) -> None:
    missing = []
    for node in starrocks_manifest["nodes"].values():
        config = node.get("config", {})
        if node["resource_type"] != "model" or config.get("materialized") not in (
            "table",
            "incremental",
        ):
            continue
        if not (config.get("keys") and config.get("distributed_by") and config.get("buckets")):
            missing.append(node["name"])
    assert not missing, f"table models without keys/distributed_by/buckets: {sorted(missing)}"


def test_fact_is_keyed_by_day_and_product(starrocks_manifest: dict) -> None:
    models = {
        node["name"]: node
        for node in starrocks_manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    assert models["fact_daily_sales"]["config"]["keys"] == ["order_date", "product_id"]
    # The fact is a view of int_daily_sales, the table keyed alike.
    assert "`staging`.`int_daily_sales`" in models["fact_daily_sales"]["compiled_code"]
    assert models["int_daily_sales"]["config"]["keys"] == ["order_date", "product_id"]


def test_models_deleting_by_subquery_are_primary_key_tables(starrocks_manifest: dict) -> None:
    # StarRocks takes DELETE ... WHERE col IN (subquery) on Primary Key tables only.
    deleting = {
        node["name"]: node["config"]
        for node in starrocks_manifest["nodes"].values()
        if node["resource_type"] == "model"
        and any("delete_changed" in hook["sql"] for hook in node["config"]["pre-hook"])
    }
    assert {"int_order_lines", "int_daily_sales"} <= set(deleting)
    assert {name: c["table_type"] for name, c in deleting.items()} == dict.fromkeys(
        deleting, "PRIMARY"
    )


def test_the_sql_check_catches_broken_sql() -> None:
    # The check above is only worth something if it can fail.
    assert starrocks_parse_errors("select a, from t where")
    assert not starrocks_parse_errors("select get_json_string(payload, '$.a') from t")
    rejected = "select * from t where a in (select a from n) or k in (select k from m)"
    assert [label for label, p in STARROCKS_REJECTS.items() if p.search(rejected)]
