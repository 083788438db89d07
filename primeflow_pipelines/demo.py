"""``make demo``: materialize a window of trading days through real Dagster runs, publish the
read copy, and summarise what was built."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import dagster as dg
from tabulate import tabulate

from primeflow_lib import calendar, warehouse
from primeflow_lib.config import load_config
from primeflow_lib.vendors import vendor_name_for
from primeflow_pipelines.definitions import defs as load_defs


def demo_window(sessions: int, end_date: str | None) -> list[dt.date]:
    """The last ``sessions`` trading days ending at ``end_date`` (default: the latest completed
    session)."""
    end = calendar.require_session(end_date) if end_date else calendar.latest_completed_session()
    days = calendar.sessions_before(end, sessions - 1) + [end]
    return days


def run_partition_range(job_name: str, days: list[dt.date], instance: dg.DagsterInstance, *, tags: dict | None = None) -> dg.ExecuteInProcessResult:
    """One real run of ``job_name`` covering ``days`` (single-run backfill of the range)."""
    job = load_defs().resolve_job_def(job_name)
    run_tags = {
        "dagster/asset_partition_range_start": days[0].isoformat(),
        "dagster/asset_partition_range_end": days[-1].isoformat(),
        **(tags or {}),
    }
    return job.execute_in_process(instance=instance, tags=run_tags)


def run_demo(sessions: int | None = None, end_date: str | None = None, echo: Callable[[str], None] = print) -> str:
    """Build the demo warehouse and return the summary text."""
    cfg = load_config()
    n = sessions or cfg["demo"]["sessions"]
    days = demo_window(n, end_date or cfg["demo"]["end_date"])
    vendors = {k: vendor_name_for(k, cfg) for k in ("universe", "bars", "chain", "prints")}
    echo(
        f"PrimeFlow demo: {len(days)} sessions {days[0]} .. {days[-1]}, universe of "
        f"{cfg['universe']['size']}, vendors {vendors}"
    )
    instance = dg.DagsterInstance.get()
    defs = load_defs()
    tags = {"primeflow/demo": "true"}
    history = calendar.sessions_before(days[0], cfg["demo"]["history_sessions"])
    steps = 5

    def check(res, t0):
        if not res.success:
            raise RuntimeError(f"run {res.run_id} failed; open the UI (make ui) to see why")
        echo(f"  run {res.run_id} succeeded in {time.monotonic() - t0:.0f} s")

    t0 = time.monotonic()
    if history:
        echo(f"step 1/{steps}: history: universe + daily bars for {len(history)} sessions "
             f"{history[0]} .. {history[-1]} (indicator warm-up, backtests) ...")
        check(run_partition_range("history_job", history, instance, tags=tags), t0)
    t0 = time.monotonic()
    echo(f"step 2/{steps}: daily partitions job over the window (market data, prints, flow, paper, research) ...")
    check(run_partition_range("daily_partitions_job", days, instance, tags=tags), t0)
    echo(f"step 3/{steps}: backtests: {', '.join(cfg['demo']['backtest_presets'])} ...")
    bench = cfg["market_regime"]["benchmark"]
    for name in cfg["demo"]["backtest_presets"]:
        t0 = time.monotonic()
        run_cfg = {"ops": {"research__backtest_runs": {"config": {"preset": name, "symbol": bench}}}}
        res = defs.resolve_job_def("backtest_job").execute_in_process(
            instance=instance, run_config=run_cfg, tags={**tags, "primeflow/preset": name})
        check(res, t0)
    t0 = time.monotonic()
    echo(f"step 4/{steps}: marts (dbt_like_sql) ...")
    check(defs.resolve_job_def("marts_job").execute_in_process(instance=instance, tags=tags), t0)
    echo(f"step 5/{steps}: publishing the read copy ...")
    read = warehouse.publish_read_copy()
    return summarize(read, days)


def summarize(read_path, days: list[dt.date]) -> str:
    with warehouse.connect(read_path, read_only=True) as con:
        summary = warehouse.table_summary(con)
    summary = summary[summary["rows"] > 0]
    lines = [
        "",
        f"Warehouse: {warehouse.warehouse_path()}  (read copy: {read_path})",
        tabulate(summary, headers="keys", tablefmt="github", showindex=False, intfmt=","),
        "",
        f"Window: {days[0]} .. {days[-1]} ({len(days)} NYSE sessions)",
        "Open the UI:   make ui   (then http://127.0.0.1:3000)",
        'Query:        .venv/bin/primeflow query "SELECT * FROM market.universe LIMIT 10"',
    ]
    return "\n".join(lines)
