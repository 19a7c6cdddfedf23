"""The dbt project compiles for StarRocks, and what dbt-starrocks sends is StarRocks SQL.

No StarRocks server runs here, so these are the checks the StarRocks path gets without
one, in two parts:

1. `dbt compile --target starrocks` (the profile pins `version`, and
   `--no-populate-cache` skips listing relations, so dbt never connects): every compiled
   model (first build and incremental branches) is parsed with sqlglot's StarRocks
   dialect and searched for the constructs below.
2. Two real `dbt build --target starrocks` runs, a first and an incremental one, against
   the SQL double (starrocks_sql_double.py): a loopback MySQL-protocol stand-in, NOT a
   StarRocks server. It records every statement dbt-starrocks sends (DDL, hooks,
   catalog queries, the incremental INSERT/DELETE) and refuses, with an error packet,
   what does not parse or matches the lists below, and DDL/DML that breaks rules it
   knows (key columns first, DELETE forms, unknown tables and columns). It holds no
   data: SELECTs return no rows.

Both prove the SQL is well-formed and free of DuckDB-only syntax, not that StarRocks
accepts every function or computes the right rows (that needs `make test-starrocks`).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess

import pymysql
import pytest
import sqlglot
from sqlglot.errors import SqlglotError

from retail_platform.assets.dbt_metadata import report_in
from retail_platform.project import DBT_PROJECT_DIR, dbt_argv
from retail_platform.warehouse import warehouse_from_env
from retail_platform_tests.starrocks_sql_double import StarRocksSqlDouble

# mysql-mimic (the SQL double's wire protocol) throws into its coroutines the old way.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:the \(type, exc, tb\) signature of throw\(\) is deprecated:DeprecationWarning"
)

# Constructs StarRocks 3.5 rejects or reads differently, which must never appear in any
# statement sent to StarRocks (compiled models here; everything, via the SQL double) (sqlglot's StarRocks dialect accepts several of them): DuckDB-only
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
    for name in (
        "base_order_items",
        "base_orders_classified",
        "base_order_lines",
        "int_daily_sales",
    ):
        assert (
            "_stamp > coalesce((select max(_stamp) from" in compiled_models[f"{name}:incremental"]
        )
    assert "load_label in (select" in compiled_models["base_orders_parsed:incremental"]


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
    parsed = compiled_models["base_orders_parsed"]
    assert "get_json_string(payload, '$.order_id')" in parsed
    assert "json_keys(payload)" in parsed
    items = compiled_models["base_order_items"]
    assert "as array<json>" in items and "array_generate(" in items


def test_models_read_and_write_the_contract_databases(compiled_models: dict[str, str]) -> None:
    assert "`raw`.`raw_orders`" in compiled_models["base_orders_parsed"]
    assert "`intermediate`.`int_daily_sales`" in compiled_models["fact_daily_sales"]


def test_dimensions_are_primary_key_tables(starrocks_manifest: dict) -> None:
    models = {
        node["name"]: node
        for node in starrocks_manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    for name, keys in PRIMARY_KEY_MODELS.items():
        config = models[name]["config"]
        assert models[name]["schema"] == "marts"
        assert config["materialized"] == "incremental" and config["unique_key"] == keys[0], name
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
    assert "`intermediate`.`int_daily_sales`" in models["fact_daily_sales"]["compiled_code"]
    assert models["int_daily_sales"]["config"]["keys"] == ["order_date", "product_id"]


def test_models_deleting_by_subquery_are_primary_key_tables(starrocks_manifest: dict) -> None:
    # StarRocks takes DELETE ... WHERE col IN (subquery) on Primary Key tables only.
    deleting = {
        node["name"]: node["config"]
        for node in starrocks_manifest["nodes"].values()
        if node["resource_type"] == "model"
        and any("delete_changed" in hook["sql"] for hook in node["config"]["pre-hook"])
    }
    assert {"base_order_lines", "int_daily_sales"} <= set(deleting)
    assert {name: c["table_type"] for name, c in deleting.items()} == dict.fromkeys(
        deleting, "PRIMARY"
    )


def test_the_sql_check_catches_broken_sql() -> None:
    # The check above is only worth something if it can fail.
    assert starrocks_parse_errors("select a, from t where")
    assert not starrocks_parse_errors("select get_json_string(payload, '$.a') from t")
    rejected = "select * from t where a in (select a from n) or k in (select k from m)"
    assert [label for label, p in STARROCKS_REJECTS.items() if p.search(rejected)]


# -- Against the SQL double: every statement of a first and an incremental `dbt build` --------

DOUBLE_USER, DOUBLE_PASSWORD = "dbt", "s3cr3t-pw"
# STARROCKS_REPLICATION_NUM as the README documents it: unset (the server's default) or set.
REPLICATION_CONFIGS = {"replication-default": None, "replication-1": "1"}
# Models whose pre-hook deletes what an incremental run rewrites (delete_changed); on
# the double int_daily_sales takes its input in by changes instead (below).
DELETE_SCOPED = ("base_order_lines",)
# The contract's staging tables and the fact: views of base and intermediate tables.
VIEWS = {
    "staging": ("stg_customers", "stg_products", "stg_orders", "stg_order_items")
    + ("quarantine_customers", "quarantine_products", "quarantine_orders"),
    "marts": ("fact_daily_sales",),
}
# Each build as production runs it (assets/dbt.py): unit tests run in CI on DuckDB, JSON
# events (what makes the models report their metadata to Dagster); then a full refresh.
BUILD_FLAGS = ("--exclude-resource-type", "unit_test", "--log-format", "json")
BUILDS = {
    "first": (),
    "incremental": (),
    "full-refresh": ("--full-refresh",),
}


@pytest.fixture(scope="module", params=list(REPLICATION_CONFIGS), ids=list(REPLICATION_CONFIGS))
def double_builds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """For each documented configuration: the raw tables (as `retail-sim init` creates
    them), then a first, an incremental and a `--full-refresh` `dbt build --target
    starrocks`, all against the SQL double; (double, {phase: result}, manifest, replication)."""
    replication = REPLICATION_CONFIGS[request.param]
    double = StarRocksSqlDouble(
        rejects=DUCKDB_ONLY | STARROCKS_REJECTS, user=DOUBLE_USER, password=DOUBLE_PASSWORD
    ).start()
    try:
        # The warehouse and dbt's environment as the platform makes them from the
        # environment variables (warehouse_from_env, dbt_env); nothing else leaks in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("STARROCKS_")}
        env |= {
            "RETAIL_WAREHOUSE": "starrocks",
            "STARROCKS_HOST": "127.0.0.1",
            "STARROCKS_PORT": str(double.port),
            "STARROCKS_USER": DOUBLE_USER,
            "STARROCKS_PASSWORD": DOUBLE_PASSWORD,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        if replication is not None:
            env["STARROCKS_REPLICATION_NUM"] = replication
        with pytest.MonkeyPatch.context() as patch:
            for name in [k for k in os.environ if k.startswith("STARROCKS_")]:
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            warehouse = warehouse_from_env()
        double.phase = "setup"
        warehouse.setup()  # the raw databases and tables, as `retail-sim init` creates them
        env |= warehouse.dbt_env()
        work = tmp_path_factory.mktemp("dbt_starrocks_double")
        results = {}
        for phase, flags in BUILDS.items():
            double.phase = phase
            argv = dbt_argv("build", work, "--target", "starrocks", *BUILD_FLAGS, *flags)
            results[phase] = subprocess.run(
                argv,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
        manifest = json.loads((work / "target" / "manifest.json").read_text())
        yield double, results, manifest, replication
    finally:
        double.stop()


def _sql(statement) -> str:
    """The statement without dbt's leading comment, whitespace collapsed, lower case."""
    text = re.sub(r"^\s*/\*.*?\*/", "", statement.sql, flags=re.S)
    return re.sub(r"\s+", " ", text).strip().lower()


def _statements(double, phase: str, kind: str, target: str) -> list[str]:
    """The SQL of `kind` statements in `phase` whose target is `target` (`db`.`name`)."""
    prefix = {
        "CREATE TABLE AS": f"create table {target} ",
        "INSERT": f"insert into {target} ",
        "DELETE": f"delete from {target} ",
    }[kind]
    return [
        sql
        for s in double.received(phase)
        if s.kind == kind and (sql := _sql(s)).startswith(prefix)
    ]


def _incremental_models(manifest: dict) -> dict[str, str]:
    return {
        node["name"]: f"`{node['schema']}`.`{node['name']}`"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    }


def test_both_builds_succeed_against_the_double(double_builds) -> None:
    double, results, _, _ = double_builds
    refused = [(s.phase, s.error, _sql(s)[:300]) for s in double.received() if s.error]
    for phase, result in results.items():
        assert result.returncode == 0, (
            f"{phase} dbt build failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}\n"
            f"statements the double refused: {refused}"
        )
    assert "Completed successfully" in results["incremental"].stdout


def test_every_statement_parses_and_uses_nothing_starrocks_rejects(double_builds) -> None:
    double, _, _, _ = double_builds
    statements = double.received()
    assert len(statements) > 200, "the builds sent almost nothing: did dbt reach the double?"
    refused = [(s.phase, s.error, _sql(s)[:300]) for s in statements if s.error]
    assert not refused, f"statements the double refused as StarRocks would: {refused}"
    # The same checks again, outside the double: the test does not trust its own helper.
    unparsed = [_sql(s)[:300] for s in statements if starrocks_parse_errors(s.sql)]
    assert not unparsed, f"StarRocks SQL that sqlglot cannot parse: {unparsed}"
    leaks = {
        _sql(s)[:300]: label
        for s in statements
        for label, pattern in (DUCKDB_ONLY | STARROCKS_REJECTS).items()
        if pattern.search(s.sql)
    }
    assert not leaks, f"constructs StarRocks rejects or misreads: {leaks}"


def test_second_build_takes_every_incremental_branch(double_builds) -> None:
    double, _, manifest, _ = double_builds
    models = _incremental_models(manifest)
    # The base and intermediate models and the dimensions keep incremental state
    # (macros/incremental.sql): upserted by key, never rebuilt whole.
    stateful = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and ("base" in node["fqn"] or node["fqn"][1] == "intermediate")
    }
    assert set(models) == stateful | set(PRIMARY_KEY_MODELS) and len(models) == 11, models
    for name, target in models.items():
        tmp = target[:-1] + "__dbt_tmp`"
        # First build: the table is created from the model's SELECT.
        assert _statements(double, "first", "CREATE TABLE AS", target), name
        assert not _statements(double, "first", "INSERT", target), name
        # Second build: the new rows go to a temporary table, then INSERT INTO the target.
        assert not _statements(double, "incremental", "CREATE TABLE AS", target), name
        assert _statements(double, "incremental", "CREATE TABLE AS", tmp), name
        (insert,) = _statements(double, "incremental", "INSERT", target)
        assert f"from {tmp}" in insert, insert
        # --full-refresh: built again from the model's SELECT beside it, then swapped in.
        backup = target[:-1] + "__dbt_backup`"
        assert _statements(double, "full-refresh", "CREATE TABLE AS", backup), name
        assert f"alter table {target} swap with {backup.split('.')[1]}" in [
            _sql(s).rstrip(";") for s in double.received("full-refresh")
        ], name
        assert not _statements(double, "full-refresh", "INSERT", target), name

    # is_incremental() was true: the label lookup ran on the double (over the whole table:
    # its max(loaded_at) is null, so there is no recent window; it answered no new
    # labels), and so did each model's lookup of its newest stamp (the double answers no
    # rows: the epoch); the models read only rows newer than that.
    def lookups(prefix: str) -> list[str]:
        return [
            sql
            for s in double.received("incremental")
            if s.kind == "SELECT" and (sql := _sql(s)).startswith(prefix)
        ]

    assert len(lookups("select load_label, count(*), min(loaded_at), null")) == 3
    stamped = {sql.split(" from ")[1] for sql in lookups("select max(_stamp) from")}
    assert stamped == {models[name] for name in models if not name.endswith("_parsed")}
    (parsed_tmp,) = _statements(
        double, "incremental", "CREATE TABLE AS", "`staging`.`base_orders_parsed__dbt_tmp`"
    )
    assert "where 1 = 0" in parsed_tmp
    (classified_tmp,) = _statements(
        double, "incremental", "CREATE TABLE AS", "`staging`.`base_orders_classified__dbt_tmp`"
    )
    assert "_stamp > cast('1970-01-01 00:00:00' as datetime)" in classified_tmp


def test_each_incremental_model_reads_only_its_new_input(double_builds) -> None:
    """What the double records of the batch's build: each model's new rows are selected
    from its input's newest loads (the parsed models: no new label, so `1 = 0`) or its
    rows stamped after the model's own newest stamp (the epoch: the double holds no
    rows); the tests are scoped by the keys of the newest stamp (macros/batch_scope.sql)."""
    double, _, manifest, _ = double_builds
    epoch = "_stamp > cast('1970-01-01 00:00:00' as datetime)"
    for name, target in _incremental_models(manifest).items():
        (tmp,) = _statements(double, "incremental", "CREATE TABLE AS", target[:-1] + "__dbt_tmp`")
        scope = "where 1 = 0" if name.endswith("_parsed") else epoch
        assert scope in tmp, f"{name} selects its input without its scope: {tmp[:600]}"
    tests = [
        _sql(s)
        for s in double.received("incremental")
        if s.kind == "SELECT" and _sql(s).startswith("select count(*) as failures")
    ]
    # the newest stamp as a constant, asked first (the double answers no rows: the epoch)
    newest = f"where _stamp = {epoch.removeprefix('_stamp > ')}"
    assert tests and all(newest in sql for sql in tests), [
        sql[:400] for sql in tests if newest not in sql
    ]
    # The dimensions' reports of new and changed rows, in step (the double counts no
    # stray row), compare the versions base_*_classified rewrote, found by stamp; they
    # do not read the dimension's rows by key.
    for dimension, key in PRIMARY_KEY_MODELS.items():
        (report,) = [
            sql
            for s in double.received("incremental")
            if s.kind == "SELECT"
            and (sql := _sql(s)).startswith(f"select sum(case when old.{key[0]} is null")
        ]
        assert f"{epoch} and was_latest_version" in report, report
        assert f"`{dimension}`" not in report, report


def test_hooks_reach_the_warehouse_and_nothing_else_is_kept(double_builds) -> None:
    double, _, manifest, _ = double_builds
    models = _incremental_models(manifest)
    for name in DELETE_SCOPED:  # pre-hooks: only an incremental run deletes its scope
        target = models[name]
        assert not _statements(double, "first", "DELETE", target)
        (delete,) = _statements(double, "incremental", "DELETE", target)
        assert " in (select distinct " in delete and "_stamp > cast(" in delete, delete
    # int_daily_sales: base_orders_classified's new rows follow its newest stamp (the
    # double counts no row that does not), so it adds the changes of the orders whose
    # latest version changed to its (day, product) rows, an upsert; its one delete is of
    # the rows an earlier run left without orders.
    target = models["int_daily_sales"]
    (delete,) = _statements(double, "incremental", "DELETE", target)
    assert "where order_count = 0 and _stamp < cast(" in delete, delete
    (changes,) = _statements(double, "incremental", "CREATE TABLE AS", target[:-1] + "__dbt_tmp`")
    assert "was_latest_version" in changes and "`base_order_lines`" not in changes, changes
    # No bookkeeping table of dbt's own: every table created is a model's (or its
    # temporary table), and nothing else is created but the running totals of Dagster's
    # reports (macros/running_totals.sql), which only the reports read.
    created = {
        re.match(r"create table (`\w+`\.`\w+`)", sql).group(1).replace("__dbt_tmp`", "`")
        for s in double.received()
        if s.phase in ("first", "incremental")
        and (sql := _sql(s)).startswith("create table ")
        and " as " in sql
    }
    tables = {
        f"`{node['schema']}`.`{node['name']}`"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "view"
    }
    assert created == tables
    assert {
        re.match(r"create table if not exists (`\w+`\.`\w+`)", sql).group(1)
        for s in double.received()
        if s.phase in ("first", "incremental")
        and (sql := _sql(s)).startswith("create table if not exists")
    } == {"`staging`.`report_totals`"}


def test_every_model_reports_its_metadata_to_dagster(double_builds) -> None:
    """The post-hooks' queries pass the double's StarRocks checks (the build succeeded)
    and each model's report names the columns the double holds for it."""
    double, results, manifest, _ = double_builds
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    for phase, result in results.items():
        reports: dict[str, dict] = {}
        for line in result.stdout.splitlines():
            report = report_in(json.loads(line))
            if report is not None:
                reports.setdefault(report.pop("unique_id"), {}).update(report)
        assert set(reports) == set(models), phase
        for uid, report in reports.items():
            relation = double.relation(models[uid]["schema"], models[uid]["alias"])
            assert [name for name, _ in report["columns"]] == [c.name for c in relation.columns]
            assert all(data_type for _, data_type in report["columns"]), uid
            assert report["row_count"] == 0, uid  # the double holds no rows
        # No rows, so no days (and the complete day's order count is not asked).
        assert reports["model.retail.fact_daily_sales"]["days"] == []


def test_ddl_sets_keys_buckets_and_properties(double_builds) -> None:
    double, _, manifest, replication = double_builds
    # STARROCKS_REPLICATION_NUM reaches every table created (dbt's and the raw ones) when
    # set; unset, no PROPERTIES clause at all (StarRocks refuses an empty one).
    expected = {} if replication is None else {"replication_num": replication}
    ddl = [_sql(s) for s in double.received() if s.kind.startswith("CREATE TABLE")]
    assert len(ddl) > 20
    for sql in ddl:
        assert ("properties (" in sql) == bool(expected), sql[:300]
    tables = {
        node["name"]: (node["schema"], node["config"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] != "view"
    }
    for name, (schema, config) in tables.items():
        table = double.relation(schema, name)
        assert table is not None and table.kind == "TABLE", name
        assert table.properties == expected, name
        assert table.buckets == config["buckets"] == 4, name
        assert table.keys == config["keys"] and table.keys_type == config["table_type"], name
        assert table.distributed_by == config["distributed_by"], name
    for name, keys in PRIMARY_KEY_MODELS.items():
        table = double.relation("marts", name)
        assert (table.keys_type, table.keys) == ("PRIMARY", keys)
        assert [c.name for c in table.columns[: len(keys)]] == keys  # key columns lead
        assert "primary key (" in table.ddl.lower()
    for schema, names in VIEWS.items():
        for name in names:
            assert double.relation(schema, name).kind == "VIEW", name
    raw = double.relation("raw", "raw_orders")
    assert (raw.keys_type, raw.properties) == ("DUPLICATE", expected)


@pytest.fixture
def double_cursor():
    double = StarRocksSqlDouble(rejects=DUCKDB_ONLY | STARROCKS_REJECTS, password="pw").start()
    conn = pymysql.connect(
        host="127.0.0.1", port=double.port, user="root", password="pw", autocommit=True
    )
    cursor = conn.cursor()
    cursor.execute("create database d")
    cursor.execute(
        "create table d.t (k varchar(10) not null, n int, x double) "
        "duplicate key(k) distributed by hash(k) buckets 1"
    )
    yield cursor
    conn.close()
    double.stop()


@pytest.mark.parametrize(
    "sql",
    [
        "select k || 'a' from d.t",  # STARROCKS_REJECTS
        "select k from d.t qualify row_number() over (order by n) = 1",
        "select try_cast(n as int) from d.t",  # DUCKDB_ONLY
        "select k, from d.t where",  # does not parse
        "select k from d.missing",  # unknown table
        "select nope from d.t",  # unknown column
        "create table d.t (k int) distributed by hash(k) buckets 1",  # exists
        "create table d.u primary key(n) distributed by hash(n) buckets 1 as select k, n from d.t",
        "create table d.u primary key(x) distributed by hash(x) buckets 1 as select x from d.t",
        "delete from d.t where k in (select k from d.t)",  # subquery: Primary Key tables only
        "delete from d.t where k = 'a' or n = 1",
        "insert into d.t (k, n) select k from d.t",
        "analyze table d.t",  # a statement the double does not know
        # StarRocks.g4: PROPERTIES takes one or more 'key' = 'value' strings
        "create table d.p (k int) distributed by hash(k) buckets 1 properties ( )",
        "create table d.p distributed by hash(k) buckets 1 properties ( ) as select k from d.t",
        "create table d.p (k int) distributed by hash(k) buckets 1 properties (replication_num = 1)",
    ],
)
def test_the_double_refuses_what_starrocks_refuses(double_cursor, sql: str) -> None:
    with pytest.raises(pymysql.MySQLError):
        double_cursor.execute(sql)


def test_the_double_answers_what_starrocks_accepts(double_cursor) -> None:
    double_cursor.execute("delete from d.t where k = 'a' and n in (1, 2)")
    double_cursor.execute(
        "create table d.u primary key(n) distributed by hash(n) buckets 1 as select n, k from d.t"
    )
    double_cursor.execute("delete from d.u where n in (select n from d.t)")
    double_cursor.execute(
        "create table d.p (k int) distributed by hash(k) buckets 1 "
        "properties ('replication_num' = '1', \"a\" = \"b\")"
    )
    double_cursor.execute("select count(*) as failures, count(*) != 0 as should_warn from d.u")
    assert double_cursor.fetchall() == ((0, 0),)
    double_cursor.execute("desc d.u")
    assert [row[:3] for row in double_cursor.fetchall()] == [
        ("n", "int", "NO"),
        ("k", "varchar(10)", "YES"),
    ]
    with pytest.raises(pymysql.MySQLError):
        pymysql.connect(
            host="127.0.0.1", port=double_cursor.connection.port, user="root", password="no"
        )
