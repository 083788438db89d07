"""The code location loads, every dependency is something we materialize, every writer is in the
DuckDB write pool, and the domain library stays free of Dagster."""

import pathlib
import re

import dagster as dg
import pytest

from primeflow_pipelines.definitions import defs as load_defs

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def defs():
    return load_defs()


def test_definitions_load(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for expected in ("market/universe", "market/ohlcv_daily", "market/ohlcv_intraday",
                     "market/option_chain", "flow/option_prints"):
        assert expected in keys


def test_no_asset_depends_on_a_key_nothing_materializes(defs):
    graph = defs.resolve_asset_graph()
    dangling = [k.to_user_string() for k in graph.get_all_asset_keys()
                if not graph.get(k).is_materializable and graph.get(k).child_keys]
    assert dangling == []
    # the only keys nothing materializes are observed ones nothing depends on
    observed = {k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable}
    assert observed == {"live/stream"}


def test_every_materializable_asset_writes_through_the_pool(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            pool = graph.assets_def_for_key(key).node_def.pool
            assert pool == "duckdb_write", f"{key.to_user_string()} is not in pool duckdb_write"


def test_daily_job_and_schedule_exist(defs):
    job = defs.resolve_job_def("daily_partitions_job")
    assert job.partitions_def is not None
    sched = defs.resolve_schedule_def("daily_after_close")
    assert sched.execution_timezone == "America/New_York"


def test_schedule_skips_non_sessions_and_requests_the_day(defs):
    sched = defs.resolve_schedule_def("daily_after_close")
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    def tick(when):
        ctx = dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def())
        return sched.evaluate_tick(ctx)

    assert "not an NYSE session" in tick(dt.datetime(2024, 11, 28, 17, 30, tzinfo=ny)).skip_message
    reqs = tick(dt.datetime(2024, 11, 29, 17, 30, tzinfo=ny)).run_requests
    assert [r.partition_key for r in reqs] == ["2024-11-29"]


def test_partitions_are_nyse_sessions_from_2010(defs):
    from primeflow_pipelines.defs.partitions import trading_days

    keys = trading_days.get_partition_keys()
    assert keys[0] == "2010-01-04"
    assert "2024-07-04" not in keys and "2024-07-03" in keys and "2024-07-05" in keys
    assert "2024-11-28" not in keys  # Thanksgiving


def test_primeflow_lib_never_imports_dagster():
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "primeflow_lib").rglob("*.py")
        if re.search(r"^\s*(import dagster|from dagster)", p.read_text(), re.M)
    ]
    assert offenders == []
