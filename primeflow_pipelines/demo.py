"""``make demo``: materialize a window of trading days through real Dagster runs, publish the
read copy, and summarise what was built."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable

import dagster as dg
from tabulate import tabulate

from primeflow_lib import calendar, warehouse
from primeflow_lib.config import load_config
from primeflow_lib.vendors import vendor_name_for
from primeflow_lib.workbench.desk_views import desk_summary
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
    steps = 6

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
    echo(f"step 2/{steps}: daily partitions job over the window (market data, dealer gamma, prints, flow, paper, "
         "research) ...")
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
    echo(f"  PhiAI study on {bench}: {DEMO_TUNE} ...")
    tune_cfg = {"symbol": bench, "tune_config": DEMO_TUNE}
    res = defs.resolve_job_def("tuning_job").execute_in_process(
        instance=instance, tags={**tags, "primeflow/tuning": "demo"},
        run_config={"ops": {"research__tuning_trials": {"config": tune_cfg},
                            "research__tuned_parameters": {"config": tune_cfg}}})
    check(res, t0)
    t0 = time.monotonic()
    echo(f"step 4/{steps}: near-live: replaying the first {DEMO_LIVE_MINUTES} minutes of {days[-1]} through the "
         "inbox and live_flow_job (the sensor does this when the daemon runs) ...")
    alerts = run_live_replay(defs, instance, days[-1], echo)
    echo(f"  {alerts} alerts delivered ({time.monotonic() - t0:.0f} s)")
    t0 = time.monotonic()
    echo(f"step 5/{steps}: marts (dbt_like_sql) ...")
    check(defs.resolve_job_def("marts_job").execute_in_process(instance=instance, tags=tags), t0)
    echo(f"step 6/{steps}: publishing the read copy ...")
    read = warehouse.publish_read_copy()
    return summarize(read, days)


#: the demo's PhiAI study: small enough for the demo's year of history, a few seconds
DEMO_TUNE = "{indicators: [rsi, bollinger], trials: 300, folds: {n_folds: 3}, seed: 7}"

#: minutes of the last session the demo replays through the live path
DEMO_LIVE_MINUTES = 30
DEMO_LIVE_BATCHES = 3


def run_live_replay(defs, instance: dg.DagsterInstance, day: dt.date, echo: Callable[[str], None]) -> int:
    """Write the first minutes of ``day``'s stored prints into the inbox as a few batches and
    run ``live_flow_job`` on each (real runs); returns alerts delivered."""
    from primeflow_lib.live.inbox import list_batches, write_batch
    from primeflow_lib.schema.flow import OPTION_PRINTS

    open_ts, _ = calendar.session_open_close(day)
    cols = ", ".join(f'"{c}"' for c in OPTION_PRINTS.column_names)
    with warehouse.connect() as con:
        prints = con.execute(
            f"SELECT {cols} FROM flow.option_prints WHERE trade_date = ? AND sip_ts < ? ORDER BY sip_ts",
            [day, open_ts + dt.timedelta(minutes=DEMO_LIVE_MINUTES)]).df()
        sent_before = _sent(con)
    step = DEMO_LIVE_MINUTES // DEMO_LIVE_BATCHES
    for k in range(DEMO_LIVE_BATCHES):
        lo, hi = open_ts + dt.timedelta(minutes=k * step), open_ts + dt.timedelta(minutes=(k + 1) * step)
        batch = prints[(prints["sip_ts"] >= lo) & (prints["sip_ts"] < hi)]
        if len(batch):
            write_batch(batch, prefix=f"demo-{day}")
    job = defs.resolve_job_def("live_flow_job")
    for b in list_batches():
        res = job.execute_in_process(
            instance=instance, run_config={"ops": {"score_inbox_batch": {"config": {"batch": b.identity}}}},
            tags={"primeflow/demo": "true", "primeflow/batch": b.path.name})
        if not res.success:
            raise RuntimeError(f"live run {res.run_id} for {b.path.name} failed; open the UI (make ui) to see why")
        echo(f"  {b.path.name}: run {res.run_id} succeeded")
    with warehouse.connect() as con:
        return _sent(con) - sent_before


def _sent(con) -> int:
    return con.execute("SELECT count(*) FROM live.alert_outbox WHERE status = 'sent'").fetchall()[0][0]


_SUMMARY_QUERIES = {
    "Signals by strategy, with paper outcomes (marts.strategy_scorecard)":
        "SELECT kind, signals, closed, tp, sl, timeout, open, round(win_rate, 3) AS win_rate, "
        "round(avg_return * 100, 3) AS avg_return_pct, round(avg_strength, 3) AS avg_strength "
        "FROM marts.strategy_scorecard ORDER BY kind",
    "Tags on signals":
        "SELECT kind, tag, count(*) AS n FROM (SELECT kind, unnest(string_split(tags, ',')) AS tag "
        "FROM flow.signals) WHERE tag <> '' GROUP BY ALL ORDER BY kind, n DESC",
    "Backtests (marts.backtest_leaderboard)":
        "SELECT run_id, strategy, tags, symbol, round(total_return, 4) AS total_return, "
        "round(sharpe, 3) AS sharpe, round(max_drawdown, 4) AS max_drawdown, n_trades "
        "FROM marts.backtest_leaderboard",
    "Dealer gamma levels, last session, largest |GEX| (marts.gamma_levels; convention is an assumption)":
        "SELECT CAST(trade_date AS VARCHAR) AS trade_date, underlying, convention, round(spot, 2) AS spot, total_gex_musd, gex_regime, "
        "round(zero_gamma, 2) AS flip, call_wall, put_wall, contracts_used FROM marts.gamma_levels "
        "WHERE trade_date = (SELECT max(trade_date) FROM marts.gamma_levels) "
        "ORDER BY abs(total_gex_musd) DESC LIMIT 5",
    "PhiAI tuning verdict (research.tuned_parameters)":
        "SELECT study_id, indicator, params, round(oos_sharpe, 3) AS oos_sharpe, round(psr, 3) AS psr, "
        "round(dsr, 3) AS dsr, round(pbo, 3) AS pbo, n_trials, verdict, run_id "
        "FROM research.tuned_parameters ORDER BY study_id, indicator",
}


def summarize(read_path, days: list[dt.date]) -> str:
    with warehouse.connect(read_path, read_only=True) as con:
        summary = warehouse.table_summary(con)
        extra = []
        for title, sql in _SUMMARY_QUERIES.items():
            try:
                df = con.execute(sql).df()
            except Exception:  # noqa: BLE001 - a missing mart just leaves its section out
                continue
            extra += ["", title, tabulate(df, headers="keys", tablefmt="github", showindex=False)]
        sample = con.execute(
            "SELECT message_text FROM live.alert_outbox WHERE status = 'sent' AND kind <> 'HEARTBEAT' "
            "ORDER BY created_at LIMIT 1").fetchall()
    summary = summary[summary["rows"] > 0]
    extra += ["", "Trader's desk (primeflow tape / desk / rules, workbench Tape, Market desk, Alert rules)",
              *desk_summary(load_config(), read_path)]
    lines = [
        "",
        f"Warehouse: {warehouse.warehouse_path()}  (read copy: {read_path})",
        tabulate(summary, headers="keys", tablefmt="github", showindex=False, intfmt=","),
        *extra,
        "",
        *(["A live alert, as sent:", sample[0][0], ""] if sample else []),
        f"Window: {days[0]} .. {days[-1]} ({len(days)} NYSE sessions)",
        f"Alerts (console/file sink): {os.environ.get('PRIMEFLOW_ALERTS_FILE') or 'var/alerts.jsonl'}",
        "Open the UI:   make ui   (then http://127.0.0.1:3000)",
        'Query:        .venv/bin/primeflow query "SELECT * FROM market.universe LIMIT 10"',
        "Workbench:    make workbench   (then http://127.0.0.1:8501)",
    ]
    return "\n".join(lines)
