"""The instance folder every entry point prepares (retail_platform/instance.py).

That the daemon then starts without a warning is checked on a live `dagster dev` by
the browser test (test_ui.py, its start-up log)."""

from dagster import AssetMaterialization, DagsterInstance

from retail_platform.instance import INSTANCE_YAML, RUN_RETRY_CURSOR_KEYS, prepare_home


def cursors(home) -> dict[str, str]:
    with DagsterInstance.from_config(str(home)) as instance:
        return instance.daemon_cursor_storage.get_cursor_values(set(RUN_RETRY_CURSOR_KEYS))


def test_a_fresh_home_gets_the_instance_file_and_the_run_retry_cursors(tmp_path):
    home = prepare_home(tmp_path / "home")
    assert (home / "dagster.yaml").resolve() == INSTANCE_YAML.resolve()
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_retries_enabled  # the daemon that reads these cursors runs
    # Where the daemon itself would start on an empty event log: its newest event.
    assert cursors(home) == dict.fromkeys(RUN_RETRY_CURSOR_KEYS, "0")


def test_preparing_again_keeps_the_cursors_the_daemon_moved(tmp_path):
    home = prepare_home(tmp_path / "home")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.daemon_cursor_storage.set_cursor_values({RUN_RETRY_CURSOR_KEYS[0]: "42"})
    (home / "dagster.yaml").unlink()  # a home whose link was lost is mended too
    prepare_home(home)
    assert (home / "dagster.yaml").resolve() == INSTANCE_YAML.resolve()
    assert cursors(home) == {RUN_RETRY_CURSOR_KEYS[0]: "42", RUN_RETRY_CURSOR_KEYS[1]: "0"}


def test_a_home_with_events_starts_the_cursors_at_its_newest_event(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(INSTANCE_YAML)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.report_runless_asset_event(AssetMaterialization("an_older_event"))
        newest = instance.event_log_storage.get_maximum_record_id()
    assert newest
    prepare_home(home)  # not from 0: that would retry failures older than run retries
    assert cursors(home) == dict.fromkeys(RUN_RETRY_CURSOR_KEYS, str(newest))
