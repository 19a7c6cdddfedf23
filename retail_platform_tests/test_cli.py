"""`retail-sim`: one-line errors, no tracebacks; loads through the warehouse resource."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from retail_platform.snapshots import Mart


def retail_sim(*args, env_extra=None, monkeypatch=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "retail_platform.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def assert_one_line_error(proc, code):
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("retail-sim: error:")
    assert "Traceback" not in proc.stderr


def test_bad_arguments(warehouse_path):
    for args in (
        ["generate", "--orders", "-5"],
        ["generate", "--dirty-rate", "2"],
        ["generate", "--seed", "x"],
        ["generate", "--step-minutes", "0"],
        ["bogus"],
    ):
        assert_one_line_error(retail_sim(*args), 2)
    assert not warehouse_path.exists()


def test_unreachable_starrocks_names_host_and_port(closed_port):
    env = {
        "RETAIL_WAREHOUSE": "starrocks",
        "STARROCKS_HOST": "127.0.0.1",
        "STARROCKS_PORT": str(closed_port),
        "STARROCKS_PASSWORD": "s3cret-value",
    }
    proc = retail_sim("init", env_extra=env)
    assert_one_line_error(proc, 1)
    assert f"127.0.0.1:{closed_port}" in proc.stderr
    assert "s3cret-value" not in proc.stderr + proc.stdout


def test_unknown_warehouse_kind():
    assert_one_line_error(retail_sim("init", env_extra={"RETAIL_WAREHOUSE": "oracle"}), 1)


def test_generate_loads_clean_data_with_dirty_rate_zero(warehouse_path):
    proc = retail_sim(
        "generate",
        "--customers",
        "30",
        "--products",
        "5",
        "--orders",
        "80",
        "--dirty-rate",
        "0",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "batch 1" in proc.stdout
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        customers = con.execute("select count(*) from raw.raw_customers").fetchone()[0]
        not_objects = con.execute(
            "select count(*) from raw.raw_orders where json_type(payload) <> 'OBJECT'"
        ).fetchone()[0]
        orders = con.execute("select count(*) from raw.raw_orders").fetchone()[0]
    assert customers == 30
    assert not_objects == 0
    assert orders == 80  # first batch: no earlier orders to update, no faults, no duplicates


def test_query_reads_the_published_marts_while_the_warehouse_is_locked(warehouse):
    warehouse.setup()
    assert_one_line_error(retail_sim("query", "select 1"), 1)  # nothing published yet
    with warehouse.connect() as con:
        con.execute(
            "create table marts.dim_products as select *, timestamp '2026-01-01' as _stamp "
            "from (values (1, 'tea', 2.50), (2, 'cake', 4.00)) as t(product_id, product_name, unit_price)"
        )
    products = [Mart("dim_products", key="product_id")]
    warehouse.publish_marts(products)
    with warehouse.connect() as con:
        con.execute(
            "update marts.dim_products set unit_price = 3, _stamp = timestamp '2026-01-02' "
            "where product_id = 1"
        )
        con.execute(
            "insert into marts.dim_products values (3, 'jam', 1.25, timestamp '2026-01-02')"
        )
    warehouse.publish_marts(products)

    # A writer holds the warehouse file (a dbt build): the query neither waits nor fails.
    holder = duckdb.connect(str(warehouse.file))
    try:
        proc = retail_sim(
            "query", "select product_name, unit_price from marts.dim_products order by 1"
        )
    finally:
        holder.close()
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["product_name", "unit_price"]
    assert [line.split() for line in lines[2:5]] == [
        ["cake", "4.00"],
        ["jam", "1.25"],
        ["tea", "3.00"],
    ]
    assert lines[-1] == "(3 rows)"
    assert_one_line_error(retail_sim("query", "select * from marts.nope"), 1)


def make(*targets, env_extra):
    from retail_platform.settings import PROJECT_ROOT

    return subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=PROJECT_ROOT, env={**os.environ, **env_extra},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_bad_warehouse_setting_is_one_line_from_every_entry_point(tmp_path):
    """Caught by the project before dbt or a connection: `make setup` (its first step
    runs dbt), `make generate`, and dbt through `retail-dbt`."""
    env = {
        "RETAIL_WAREHOUSE": "oracle",
        "DAGSTER_HOME": str(tmp_path / "home"),
        "RETAIL_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
    }
    for proc in (make("setup", env_extra=env), make("generate", env_extra=env)):
        assert proc.returncode != 0
        # (make's own line is "make:" or, under another make, "make[1]:")
        ours = [line for line in proc.stderr.splitlines() if not line.startswith("make")]
        assert len(ours) == 1 and "RETAIL_WAREHOUSE must be one of duckdb, starrocks" in ours[0], (
            proc.stderr
        )
        assert "Traceback" not in proc.stderr and "Runtime Error" not in proc.stdout
    dbt = subprocess.run(
        [str(Path(sys.executable).parent / "retail-dbt"), "parse"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dbt.returncode == 1 and dbt.stderr.strip().splitlines() == [
        "retail-dbt: error: RETAIL_WAREHOUSE must be one of duckdb, starrocks, got 'oracle'"
    ], dbt.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_setup_names_a_bad_setting_before_a_stale_manifest_runs_dbt(tmp_path, monkeypatch):
    """`make setup` after a dbt file changed: the setting is checked before `dbt parse`
    would run and fail with a traceback around its own error."""
    from dagster_dbt import DbtProject

    from retail_platform.project import manifest_is_current
    from retail_platform.warehouse.base import WarehouseError

    monkeypatch.setenv("RETAIL_WAREHOUSE", "oracle")
    (tmp_path / "dbt_project.yml").write_text("name: p\n")
    stale = DbtProject(project_dir=tmp_path)  # no manifest yet
    with pytest.raises(WarehouseError, match="RETAIL_WAREHOUSE must be one of"):
        manifest_is_current(stale)


def test_retail_dbt_names_a_bad_vacuum_period(tmp_path):
    env = {**os.environ, "RETAIL_DUCKDB_VACUUM_MINUTES": "hourly"}
    dbt = subprocess.run(
        [str(Path(sys.executable).parent / "retail-dbt"), "parse"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dbt.returncode == 1 and dbt.stderr.strip().splitlines() == [
        "retail-dbt: error: RETAIL_DUCKDB_VACUUM_MINUTES must be a whole number of minutes, "
        "got 'hourly'"
    ], dbt.stderr


def test_setup_again_does_no_work_that_is_done(tmp_path):
    """A second `make setup` neither parses dbt nor prepares the Dagster home again."""
    env = {"DAGSTER_HOME": str(tmp_path / "home"), "RETAIL_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
    first = make("setup", env_extra=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "retail_platform.instance" in first.stdout
    assert (tmp_path / "home" / "dagster.yaml").exists()
    again = make("setup", env_extra=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "retail_platform.instance" not in again.stdout
    assert "dbt parse:" not in again.stdout
    assert "schemas and raw tables ready" in again.stdout
