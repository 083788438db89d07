"""Research assets.

* ``research/indicator_signals``, ``research/regimes``, ``research/blends``: per universe ticker on
  trading-day partitions, computed from stored daily bars with enough history before the
  partition for every indicator's warm-up (config section ``research``).
* ``research/backtest_runs``: one backtest per materialization, described by a RunConfig given in
  the launchpad (a preset by name, or a whole RunConfig in YAML); results go to
  ``research.backtest_runs`` / ``backtest_trades`` / ``backtest_equity`` keyed by the run id.
"""

import base64
import enum
import io

import dagster as dg
import pandas as pd
import yaml

from primeflow_lib import calendar, warehouse
from primeflow_lib.research import (
    RunConfig,
    blend_rows,
    indicator_signal_rows,
    max_lookback,
    preset,
    record_run,
    regime_rows,
    run_backtest,
)
from primeflow_lib.research.data import bars_from_connection
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.plots import equity_figure
from primeflow_lib.research.presets import preset_names
from primeflow_lib.schema import research as rs
from primeflow_pipelines.defs.ingest import preview_md, universe_tickers
from primeflow_pipelines.defs.market.assets import DAILY_KEY, INTRADAY_KEY, UNIVERSE_KEY
from primeflow_pipelines.defs.partitions import backfill_policy, sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

_DAILY = dict(
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    group_name="research_daily",
    kinds={"duckdb", "python"},
    deps=[UNIVERSE_KEY, DAILY_KEY],
)
# warm-up margin: extra sessions loaded beyond the longest indicator lookback
_WARMUP_MARGIN = 10


def _per_ticker_rows(context, warehouse: WarehouseResource, days, lookback: int, build) -> tuple[pd.DataFrame, list[str]]:
    """Load each universe ticker's daily bars from ``lookback`` sessions before the first day to
    the last, and concatenate ``build(bars, ticker, vendor)`` for every ticker."""
    first = calendar.sessions_before(days[0], lookback + _WARMUP_MARGIN)
    start = first[0] if first else days[0]
    with warehouse.connect() as con:
        tickers = sorted({t for d in days for t in universe_tickers(con, d)})
        panel = con.execute(
            "SELECT ticker, trade_date AS ts, open, high, low, close, volume, vwap, vendor "
            "FROM market.ohlcv_daily WHERE ticker IN (SELECT unnest(?)) AND trade_date BETWEEN ? AND ? "
            "ORDER BY ticker, ts", [tickers, start, days[-1]]).df()
    parts, missing = [], []
    for i, (ticker, bars) in enumerate(panel.groupby("ticker", sort=True), 1):
        vendor = str(bars["vendor"].iloc[-1])
        parts.append(build(bars.drop(columns=["ticker", "vendor"]).reset_index(drop=True), ticker, vendor))
        if i % 10 == 0:
            context.log.info(f"{i}/{len(tickers)} tickers done")
    missing = sorted(set(tickers) - set(panel["ticker"]))
    if missing:
        raise dg.Failure(description=f"no daily bars stored for {', '.join(missing)}: materialize "
                         f"market/ohlcv_daily for {days[0]} .. {days[-1]} first")
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return rows, tickers


def _write_daily(context, warehouse, table, rows, days, timeframe, extra_md=None) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        n = warehouse_write(con, table, rows, days, timeframe)
    md = {
        "rows": dg.MetadataValue.int(n),
        "tickers": dg.MetadataValue.int(int(rows["ticker"].nunique()) if len(rows) else 0),
        "sessions": dg.MetadataValue.int(len(days)),
        "preview": preview_md(rows.sort_values("ts").tail(8) if len(rows) else rows),
    }
    md.update(extra_md or {})
    return dg.MaterializeResult(metadata=md)


def warehouse_write(con, table, rows: pd.DataFrame, days, timeframe: str) -> int:
    """Rewrite the window's rows of this timeframe (other timeframes stay)."""
    return warehouse.replace_partition(con, table, rows, days[0], days[-1], where={"timeframe": timeframe})


@dg.asset(key=["research", "indicator_signals"], **_DAILY)
def indicator_signals(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """Every configured indicator (``research.indicators``) as a signal in [-1, +1] per universe
    ticker and session; NULL during warm-up. Causal: bar t uses bars up to t."""
    cfg = primeflow_config.load()
    rcfg = cfg["research"]
    spec = {name: None for name in rcfg["indicators"]}
    days = sessions_of(context)
    rows, tickers = _per_ticker_rows(
        context, warehouse, days, max_lookback(spec),
        lambda bars, t, v: indicator_signal_rows(bars, spec, t, rcfg["timeframe"], v, since=days[0]))
    rows = rows[pd.to_datetime(rows["trade_date"]).dt.date <= days[-1]]
    latest = rows[rows["ts"] == rows["ts"].max()] if len(rows) else rows
    board = (latest.pivot_table(index="ticker", columns="indicator", values="signal").round(2)
             if len(latest) else latest)
    return _write_daily(context, warehouse, rs.INDICATOR_SIGNALS, rows, days, rcfg["timeframe"], {
        "indicators": dg.MetadataValue.text(", ".join(spec)),
        "latest_signals": dg.MetadataValue.md(board.head(15).to_markdown() if len(board) else "_none_"),
    })


@dg.asset(key=["research", "regimes"], **_DAILY)
def regimes(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """MFT regime probabilities (TREND_UP, TREND_DOWN, RANGE, BREAKOUT, HIGH_VOL; they sum to 1)
    per universe ticker and session, with the features behind them."""
    cfg = primeflow_config.load()
    tf = cfg["research"]["timeframe"]
    days = sessions_of(context)
    rows, _ = _per_ticker_rows(
        context, warehouse, days, max_lookback({"phi_mft": None}) * 2,
        lambda bars, t, v: regime_rows(bars, None, t, tf, v, since=days[0]))
    rows = rows[pd.to_datetime(rows["trade_date"]).dt.date <= days[-1]]
    counts = rows["regime"].value_counts().to_dict() if len(rows) else {}
    return _write_daily(context, warehouse, rs.REGIMES, rows, days, tf,
                        {"regime_counts": dg.MetadataValue.json({str(k): int(v) for k, v in counts.items()})})


@dg.asset(key=["research", "blends"], **_DAILY)
def blends(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """The blended signal of the ``research.blend_preset`` preset (default PhiBot: regime-weighted)
    per universe ticker and session, with each indicator's weight per bar."""
    cfg = primeflow_config.load()
    tf = cfg["research"]["timeframe"]
    rc = preset(cfg["research"]["blend_preset"], "UNIVERSE")
    days = sessions_of(context)
    lookback = max_lookback({k: None for k in rc.indicators}) * 2
    rows, _ = _per_ticker_rows(
        context, warehouse, days, lookback,
        lambda bars, t, v: blend_rows(bars, rc, t, tf, v, since=days[0]))
    rows = rows[pd.to_datetime(rows["trade_date"]).dt.date <= days[-1]]
    return _write_daily(context, warehouse, rs.BLENDS, rows, days, tf,
                        {"blend_preset": dg.MetadataValue.text(cfg["research"]["blend_preset"])})


Preset = enum.Enum("Preset", {name: name for name in preset_names()})
Preset.__doc__ = "The strategy presets of primeflow_lib.research.presets (a dropdown in the launchpad)."


class BacktestConfig(dg.Config):
    """What to backtest. Either a preset by name (with symbol and dates), or a whole RunConfig in
    YAML/JSON in ``run_config`` (which then wins; see docs/research.md for its fields)."""

    preset: Preset = Preset.dual_sma
    """buy_and_hold, rsi, macd, bollinger, dual_sma, mean_reversion, channel_breakout, wyckoff,
    momentum_rotation, phibot, or the options presets options_bull_put, options_iron_condor,
    options_long_straddle (mode options)"""
    symbol: str = "SPY"
    """ticker; for momentum_rotation a comma-separated list, or empty for the latest universe"""
    start: str = ""
    """first session (YYYY-MM-DD); empty = the first stored bar"""
    end: str = ""
    """last session; empty = the last stored bar"""
    timeframe: str = "1d"
    capital: float = 100_000.0
    run_config: str = ""
    """a full RunConfig as YAML or JSON; overrides every field above"""
    strict: bool = False
    """fail when the bars miss NYSE sessions inside their range (otherwise a warning + metadata)"""


def build_run_config(c: BacktestConfig, universe: list[str]) -> RunConfig:
    """The RunConfig a launchpad config describes (clear errors name the bad field)."""
    if c.run_config.strip():
        try:
            data = yaml.safe_load(c.run_config)
        except yaml.YAMLError as exc:
            raise dg.Failure(description=f"run_config is not valid YAML/JSON: {exc}") from None
        return RunConfig.from_dict(data)
    name = c.preset.value if isinstance(c.preset, enum.Enum) else str(c.preset)
    dataset = {"timeframe": c.timeframe, "start": c.start or None, "end": c.end or None}
    if name == "momentum_rotation":
        syms = [s.strip().upper() for s in c.symbol.split(",") if s.strip()] if "," in c.symbol else universe
        dataset["universe"] = syms
        return preset(name, "", dataset=dataset, capital=c.capital)
    return preset(name, c.symbol.upper(), dataset=dataset, capital=c.capital)


def _png_md(fig, alt: str) -> dg.MetadataValue:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def options_metadata(result) -> dict:
    """mode options: iv_source (and the note saying whether a proxy was used), leg count and the
    payoff-at-entry plot of the last trade."""
    if result.config.mode != "options":
        return {}
    from primeflow_lib.research.options.plots import payoff_figure

    md = {"iv_source": dg.MetadataValue.text(result.iv_source),
          "iv_note": dg.MetadataValue.text(result.iv_note),
          "legs": dg.MetadataValue.int(len(result.legs))}
    if len(result.legs):
        md["payoff_at_entry"] = _png_md(payoff_figure(result.legs), "payoff at entry")
    return md


def equity_png_markdown(result) -> dg.MetadataValue:
    """The equity + drawdown plot as an inline PNG (small: tens of KB)."""
    ds = result.config.dataset
    title = f"{ds.symbol or 'rotation'} {ds.timeframe} run {result.run_id}"
    fig = equity_figure(result.equity, result.drawdown, title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    b64 = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![equity and drawdown](data:image/png;base64,{b64})")


@dg.asset(
    key=["research", "backtest_runs"],
    deps=[DAILY_KEY, INTRADAY_KEY],
    pool=DUCKDB_WRITE_POOL,
    group_name="research",
    kinds={"duckdb", "python", "numba"},
)
def backtest_runs(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Run one backtest (RunConfig from the launchpad) on stored bars and record it in the run
    history; the run id is the config's hash, so the same config rewrites the same rows."""
    with warehouse.connect() as con:
        last = con.execute("SELECT max(trade_date) FROM market.universe").fetchall()[0][0]
        universe = universe_tickers(con, last) if last else []
    rc = build_run_config(config, universe)
    rc.check_runnable()  # unknown indicators, options mode, ... fail before any bar is read
    ds = rc.dataset
    if ds.csv:
        raise dg.Failure(description="dataset.csv runs on the user's file: use `primeflow backtest` for it")
    symbols = list(ds.universe) if rc.strategy == "momentum_rotation" else [ds.symbol]
    with warehouse.connect() as con:
        # auto_tune tunes on the bars before dataset.start: load from the first stored bar
        start = None if any(s.auto_tune for s in rc.indicators.values()) else ds.start
        bars = bars_from_connection(con, symbols if len(symbols) > 1 else symbols[0], start, ds.end,
                                    ds.timeframe, ds.vendor, where="the warehouse")
    context.log.info(f"backtest {rc.run_id}: {len(bars):,} bars of {', '.join(symbols[:5])}"
                     + (" ..." if len(symbols) > 5 else ""))
    chain = None
    if rc.mode == "options" and rc.options.iv_source == "chain":
        from primeflow_lib.research.options.chain import chain_from_connection

        with warehouse.connect() as con:
            chain = chain_from_connection(con, ds.symbol, ds.end)
    try:
        result = run_backtest(rc, bars, chain, strict=config.strict)
    except ResearchError as exc:
        raise dg.Failure(description=str(exc)) from None
    for line in result.warnings:
        context.log.warning(line)
    with warehouse.connect() as con:
        record_run(con, result)
    m = result.metrics
    table = pd.DataFrame({"metric": list(m), "value": [m[k] for k in m]})
    numeric = {k: dg.MetadataValue.float(float(v)) for k, v in m.items()
               if isinstance(v, (int, float)) and pd.notna(v) and k in (
                   "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
                   "profit_factor", "final_equity")}
    return dg.MaterializeResult(
        metadata={
            "run_id": dg.MetadataValue.text(result.run_id),
            "symbols": dg.MetadataValue.text(", ".join(symbols)),
            "bars": dg.MetadataValue.int(len(result.equity)),
            "trades": dg.MetadataValue.int(len(result.trades)),
            "metrics": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".4g")),
            "equity_curve": equity_png_markdown(result),
            "config": dg.MetadataValue.json(rc.to_dict()),
            **options_metadata(result),
            "data_gaps": dg.MetadataValue.json(result.data_gaps.to_dict() if result.data_gaps else {}),
            "warnings": dg.MetadataValue.text("; ".join(result.warnings) or "none"),
            **numeric,
        }
    )

