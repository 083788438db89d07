"""PRIMEFLOW_BACKFILL_INTERVAL_S: the backfill daemon's loop interval, set by patching a Dagster
internal. These tests fail when Dagster renames or moves what the patch relies on."""

import inspect

import pytest
from dagster._daemon import backfill, controller
from dagster._daemon.asset_daemon import AssetDaemon
from dagster._daemon.daemon import BackfillDaemon

from primeflow_pipelines import daemon


def test_backfill_loop_reads_the_patched_constant_at_call_time():
    # the loop imports the constant inside the function, each time it runs: a module-level
    # import (or another name) would make the patch silently do nothing
    src = inspect.getsource(backfill.execute_backfill_iteration_loop)
    assert "from dagster._daemon.controller import DEFAULT_DAEMON_INTERVAL_SECONDS" in src
    assert "DEFAULT_DAEMON_INTERVAL_SECONDS - loop_duration" in src
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 30


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "nan", "7200"])
def test_bad_interval_names_the_setting(raw):
    with pytest.raises(ValueError, match=f"PRIMEFLOW_BACKFILL_INTERVAL_S='{raw}'"):
        daemon.backfill_interval_s({"PRIMEFLOW_BACKFILL_INTERVAL_S": raw})
    assert daemon.backfill_interval_s({}) is None
    assert daemon.backfill_interval_s({"PRIMEFLOW_BACKFILL_INTERVAL_S": "2.5"}) == 2.5


def test_apply_sets_the_backfill_interval_and_keeps_the_asset_daemons(monkeypatch):
    from dagster import DagsterInstance

    monkeypatch.setattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS", controller.DEFAULT_DAEMON_INTERVAL_SECONDS)
    monkeypatch.setattr(controller, "create_daemon_of_type", controller.create_daemon_of_type)
    daemon.apply_backfill_interval(2.0)
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 2.0
    with DagsterInstance.ephemeral() as instance:
        asset = controller.create_daemon_of_type(AssetDaemon.daemon_type(), instance)
        assert isinstance(controller.create_daemon_of_type(BackfillDaemon.daemon_type(), instance), BackfillDaemon)
    assert asset._pre_sensor_interval_seconds == 30
    assert controller.DEFAULT_DAEMON_INTERVAL_SECONDS == 2.0
