"""Where the warehouse is, defined once (warehouse/connection.py): every reader agrees."""

from __future__ import annotations

import re

import pytest
import yaml

from retail_platform.dbt_child import child_env
from retail_platform.settings import DBT_PROJECT_DIR
from retail_platform.warehouse import warehouse_from_env
from retail_platform.warehouse.connection import KIND_ENV, SETTINGS

# A value for every setting, none of them a default.
GIVEN = {
    "duckdb": {"RETAIL_DUCKDB_PATH": "/tmp/elsewhere/w.duckdb"},
    "starrocks": {
        "STARROCKS_HOST": "sr.example",
        "STARROCKS_PORT": "19030",
        "STARROCKS_HTTP_PORT": "18030",
        "STARROCKS_USER": "etl",
        "STARROCKS_PASSWORD": "s3cret",
        "STARROCKS_BE_HOST": "be.example",
        "STARROCKS_BE_PORT": "18040",
        "STARROCKS_REPLICATION_NUM": "2",
    },
}
ENV_VAR = re.compile(r"env_var\(\s*'([A-Z_]+)'\s*(,)?")


def strings_in(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


def test_the_test_sets_every_setting():
    for kind, settings in SETTINGS.items():
        assert {s.var for s in settings.values()} == set(GIVEN[kind])


@pytest.mark.parametrize("kind", sorted(GIVEN))
def test_the_cli_the_resource_and_dbt_reach_the_same_warehouse(kind, monkeypatch):
    from retail_platform.resources import warehouse_resource

    env = {KIND_ENV: kind, **GIVEN[kind]}
    for var in [s.var for settings in SETTINGS.values() for s in settings.values()]:
        monkeypatch.delenv(var, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    from_cli = warehouse_from_env()
    from_resource = warehouse_resource().process_config_and_initialize()
    assert from_resource == from_cli
    for name, setting in SETTINGS[kind].items():
        assert str(getattr(from_cli, name)) == GIVEN[kind][setting.var], name
    # dbt is given the same place, whatever the caller's environment said before.
    dbt_sees = child_env(env)
    assert {k: dbt_sees[k] for k in from_cli.dbt_env()} == from_cli.dbt_env()
    assert dbt_sees[KIND_ENV] == kind


@pytest.mark.parametrize("kind", sorted(GIVEN))
def test_unset_variables_give_one_set_of_defaults(kind, monkeypatch):
    from retail_platform.resources import warehouse_resource

    for var in [s.var for settings in SETTINGS.values() for s in settings.values()]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(KIND_ENV, kind)
    from_cli = warehouse_from_env()
    assert warehouse_resource().process_config_and_initialize() == from_cli
    env = child_env({KIND_ENV: kind})
    for setting in SETTINGS[kind].values():
        if setting.for_dbt and setting.default is not None:
            assert env[setting.var] == setting.as_text(setting.default)


def test_dbt_reads_the_settings_and_defines_no_default_of_its_own():
    """profiles.yml (the kind's output) and dbt_project.yml read every setting dbt needs,
    as variables `retail-dbt` sets, and give none that has a default here one of its own."""
    outputs = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["retail"]["outputs"]
    project = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    all_vars = {s.var for settings in SETTINGS.values() for s in settings.values()}
    for kind, settings in SETTINGS.items():
        read = [
            (m.group(1), bool(m.group(2)))
            for text in (*strings_in(outputs[kind]), project)
            for m in ENV_VAR.finditer(text)
            if m.group(1) in all_vars
        ]
        mine = {s.var: s for s in settings.values()}
        assert {var for var, _ in read if var in mine} == {
            s.var for s in settings.values() if s.for_dbt
        }, kind
        # another warehouse's setting only where dbt_project.yml reads it for that one
        assert all(var in mine or var in project for var, _ in read), kind
        assert [
            var
            for var, with_default in read
            if with_default and var in mine and mine[var].default is not None
        ] == [], kind
