"""``primeflow backtest``: run a backtest from a RunConfig file or from flags.

Examples::

    primeflow backtest --csv prices.csv --strategy dual_sma --fast 10 --slow 20 \\
        --fill next_open --size-pct 100 --fractional --sl 0.05 --tp 0.10 --commission 0.001 \\
        --json out.json
    primeflow backtest --symbol AAPL --start 2024-01-02 --end 2024-12-31 --strategy phibot
    primeflow backtest --config run.yaml --export runs/aapl-phibot

Data comes from ``--csv FILE`` (``Date,Open,High,Low,Close,Volume``) or from the warehouse read
copy (``--symbol``; file from ``--db``, env ``PRIMEFLOW_READ_DUCKDB``, default
``var/primeflow_read.duckdb``; table ``market.ohlcv_daily``, or ``market.ohlcv_intraday`` for
intraday timeframes). Flags override the config or preset they are applied to.

"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from primeflow_lib.research.blend import BLEND_MODES
from primeflow_lib.research.engine import ENTRY_RULES, FILLS
from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.indicators import get
from primeflow_lib.research.options.spec import DTE_RULES, EXPIRY_CYCLES, IV_SOURCES, STRIKE_RULES
from primeflow_lib.research.options.structures import STRUCTURES
from primeflow_lib.research.presets import preset, preset_names
from primeflow_lib.research.report import metrics_table
from primeflow_lib.research.runconfig import MODES, RunConfig
from primeflow_lib.research.timeframes import TIMEFRAMES
from primeflow_pipelines.commands.options import write_output


def _apply_param(cfg: RunConfig, name: str, value: float, flag: str) -> RunConfig:
    hits = {k for k in cfg.indicators if name in get(k).params}
    if not hits:
        raise RunConfigError(
            f"{flag}: no indicator in this run has a {name!r} parameter "
            f"(indicators: {sorted(cfg.indicators)})"
        )
    inds = {
        k: ({**s.params, name: value} if k in hits else dict(s.params))
        for k, s in cfg.indicators.items()
    }
    return cfg.replace(indicators=inds)


def build_config(opts: dict[str, Any]) -> RunConfig:
    """The RunConfig of a CLI invocation: file or preset, then flag overrides."""
    if opts["config_path"] and opts["strategy"]:
        raise RunConfigError("give either --config FILE or --strategy NAME, not both")
    if opts["config_path"]:
        cfg = RunConfig.load(opts["config_path"])
    elif opts["strategy"]:
        cfg = preset(opts["strategy"])
    else:
        raise RunConfigError(f"give --config FILE or --strategy NAME (one of {preset_names()})")

    dataset: dict[str, Any] = {}
    if opts["csv_path"]:
        dataset["csv"] = str(opts["csv_path"])
        dataset["symbol"] = opts["symbol"] or cfg.dataset.symbol or Path(opts["csv_path"]).stem
    elif opts["symbol"]:
        dataset["symbol"] = opts["symbol"]
    for key in ("start", "end", "timeframe", "vendor"):
        if opts[key] is not None:
            dataset[key] = opts[key]
    if opts["universe"]:
        dataset["universe"] = [u.strip() for u in opts["universe"].split(",") if u.strip()]
    changes: dict[str, Any] = {"dataset": dataset} if dataset else {}

    entry = {
        k: opts[f]
        for k, f in (
            ("threshold", "threshold"),
            ("exit_threshold", "exit_threshold"),
            ("allow_short", "allow_short"),
            ("on", "entry_on"),
        )
        if opts.get(f) is not None
    }
    exits = {
        k: opts[f]
        for k, f in (
            ("stop_loss", "sl"),
            ("take_profit", "tp"),
            ("trailing_stop", "trail"),
            ("max_bars", "max_bars"),
        )
        if opts[f] is not None
    }
    execution = {
        k: opts[f]
        for k, f in (
            ("fill", "fill"),
            ("commission_pct", "commission"),
            ("commission_per_share", "commission_per_share"),
            ("slippage_pct", "slippage"),
        )
        if opts[f] is not None
    }
    sizing: dict[str, Any] = {}
    if opts["size_pct"] is not None and opts["size_cash"] is not None:
        raise RunConfigError("give either --size-pct or --size-cash, not both")
    for flag, key in (("--size-pct", "size_pct"), ("--size-cash", "size_cash")):
        if opts[key] is not None and not opts[key] > 0:
            unit = "percent of equity, 100 = all" if key == "size_pct" else "USD per entry"
            raise RunConfigError(f"{flag} {opts[key]:g}: must be > 0 ({unit})")
    if opts["size_pct"] is not None:
        sizing |= {"mode": "percent_equity", "value": opts["size_pct"] / 100.0}
    if opts["size_cash"] is not None:
        sizing |= {"mode": "fixed_cash", "value": opts["size_cash"]}
    if opts["fractional"] is not None:
        sizing["fractional"] = opts["fractional"]
    for name, section in (
        ("entry", entry),
        ("exits", exits),
        ("execution", execution),
        ("sizing", sizing),
    ):
        if section:
            changes[name] = section
    if opts["blend"]:
        changes["blend"] = {"mode": opts["blend"]}
    if opts["capital"] is not None:
        changes["capital"] = opts["capital"]
    if opts["description"] is not None:
        changes["description"] = opts["description"]
    if opts["tag"]:
        changes["tags"] = [*cfg.tags, *opts["tag"]]
    cfg = cfg.replace(**changes) if changes else cfg
    cfg = _apply_options_flags(cfg, opts)

    for flag in ("fast", "slow", "period"):
        if opts[flag] is not None:
            cfg = _apply_param(cfg, flag, opts[flag], f"--{flag}")
    for item in opts["param"]:
        key, sep, raw = item.partition("=")
        ind, dot, pname = key.rpartition(".")
        if not sep or not dot or ind not in cfg.indicators:
            raise RunConfigError(
                f"--param {item!r}: expected INDICATOR.PARAM=VALUE with INDICATOR one of "
                f"{sorted(cfg.indicators)}"
            )
        try:
            value = float(raw)
        except ValueError:
            raise RunConfigError(f"--param {item!r}: {raw!r} is not a number") from None
        inds = {k: dict(s.params) for k, s in cfg.indicators.items()}
        inds[ind][pname] = int(value) if value.is_integer() else value
        cfg = cfg.replace(indicators=inds)
    return cfg


# --- mode options: flags of the RunConfig options section ----------------------
_BULLISH = ("long_call", "bull_call", "bull_put")
_BEARISH = ("long_put", "bear_put", "bear_call")
_OPTION_FLAGS = {
    "dte": "dte", "dte_rule": "dte_rule", "expiry_cycle": "expiry_cycle",
    "short_delta": "short_delta", "long_delta": "long_delta", "strike_by": "strike_by",
    "moneyness": "moneyness", "offset": "offset", "width": "width", "iv_source": "iv_source",
    "vol_window": "vol_window", "vol_premium": "vol_premium", "put_skew": "put_skew",
    "rate": "rate", "div_yield": "div_yield", "fill_fraction": "fill_fraction",
    "option_commission": "commission", "contracts": "contracts", "risk_fraction": "risk_fraction",
    "profit_take": "profit_take", "stop": "stop", "dte_exit": "dte_exit",
}  # fmt: skip


def _apply_options_flags(cfg: RunConfig, opts: dict[str, Any]) -> RunConfig:
    """``--mode`` and the option flags; ``--structure NAME`` opens NAME on its natural signal
    class (bullish: long_call bull_call bull_put; bearish: long_put bear_put bear_call;
    neutral: the rest) and nothing on the other two; --bullish/--bearish/--neutral set one."""
    changes: dict[str, Any] = {}
    if opts.get("mode"):
        changes["mode"] = opts["mode"]
    section: dict[str, Any] = {}
    name = opts.get("structure")
    if name:
        if name not in STRUCTURES:
            raise RunConfigError(
                f"--structure: {name!r} is not a structure; structures are {list(STRUCTURES)}"
            )
        cls = "bullish" if name in _BULLISH else "bearish" if name in _BEARISH else "neutral"
        section |= {"bullish": None, "bearish": None, "neutral": None, cls: name}
    for cls in ("bullish", "bearish", "neutral"):
        if opts.get(cls):
            section[cls] = None if opts[cls] == "none" else opts[cls]
    for flag, key in _OPTION_FLAGS.items():
        if opts.get(flag) is not None:
            section[key] = opts[flag]
    if opts.get("risk_fraction") is not None:
        section["sizing"] = "risk"
    if section:
        changes["options"] = section
        changes.setdefault("mode", "options")
    return cfg.replace(**changes) if changes else cfg


def _options_flags(f):
    """The click options of the options section (one contiguous block)."""
    o = click.option
    for dec in reversed((
        o("--mode", type=click.Choice(MODES), help="equities or options."),
        o("--structure", type=click.Choice(list(STRUCTURES)), help="Option structure."),
        o("--bullish", help="Structure for a bullish signal, or 'none'."),
        o("--bearish", help="Structure for a bearish signal, or 'none'."),
        o("--neutral", help="Structure for a neutral signal (|s| < threshold), or 'none'."),
        o("--dte", type=int, help="Target calendar days to expiry."),
        o("--dte-rule", type=click.Choice(DTE_RULES)),
        o("--expiry-cycle", type=click.Choice(EXPIRY_CYCLES)),
        o("--strike-by", type=click.Choice(STRIKE_RULES)),
        o("--short-delta", type=float, help="|delta| of short anchor legs, (0, 1)."),
        o("--long-delta", type=float, help="|delta| of long anchor legs, (0, 1)."),
        o("--moneyness", type=float, help="Fraction out of the money (strike-by moneyness)."),
        o("--offset", type=float, help="USD out of the money (strike-by offset)."),
        o("--width", type=float, help="Wing width, USD."),
        o("--iv-source", type=click.Choice(IV_SOURCES)),
        o("--vol-window", type=int, help="Realised-vol window, bars."),
        o("--vol-premium", type=float, help="Multiplier on realised vol."),
        o("--put-skew", type=float, help="Vol points per unit log-moneyness below spot."),
        o("--rate", type=float, help="Risk-free rate, continuous annual fraction."),
        o("--div-yield", type=float, help="Dividend yield, continuous annual fraction."),
        o("--fill-fraction", type=float, help="Fill at mid +/- this x the half-spread."),
        o("--option-commission", type=float, help="USD per contract per leg per fill."),
        o("--contracts", type=int, help="Structures per trade."),
        o("--risk-fraction", type=float, help="Size by risk: max loss <= this x equity."),
        o("--profit-take", type=float, help="Fraction of max profit (credit) / of the debit."),
        o("--stop", type=float, help="Loss as a multiple of the credit / debit."),
        o("--dte-exit", type=int, help="Close at this many days to expiry or fewer."),
    )):  # fmt: skip
        f = dec(f)
    return f


def _options_payload(result: Any, trades_json: list[dict]) -> list[dict]:
    """Trades of an options run for --json, each with its ``legs`` list."""
    from primeflow_lib.research.options.simulate import legs_json

    for t in trades_json:
        t["legs"] = legs_json(result.legs, int(t["trade_no"]))
    return trades_json


@click.command("backtest")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="RunConfig file (YAML or JSON).",
)
@click.option("--strategy", type=click.Choice(preset_names()), help="Start from a preset.")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False),
    help="OHLCV CSV: Date,Open,High,Low,Close,Volume.",
)
@click.option("--symbol", help="Ticker in market.ohlcv_daily (or the name of the CSV's ticker).")
@click.option("--universe", help="Comma-separated tickers for momentum_rotation.")
@click.option("--start", help="First session, YYYY-MM-DD (inclusive).")
@click.option("--end", help="Last session, YYYY-MM-DD (inclusive).")
@click.option("--timeframe", type=click.Choice(TIMEFRAMES))
@click.option("--vendor", help="Only warehouse bars of this vendor.")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="Warehouse read copy (default $PRIMEFLOW_READ_DUCKDB).",
)
@click.option("--fast", type=int, help="'fast' parameter of every indicator that has one.")
@click.option("--slow", type=int, help="'slow' parameter of every indicator that has one.")
@click.option("--period", type=int, help="'period' parameter of every indicator that has one.")
@click.option(
    "--param", multiple=True, help="INDICATOR.PARAM=VALUE, e.g. rsi.oversold=25 (repeatable)."
)
@click.option("--blend", type=click.Choice(BLEND_MODES), help="Blend mode.")
@click.option("--threshold", type=float, help="Entry threshold on |signal|, 0-1.")
@click.option("--entry-on", type=click.Choice(ENTRY_RULES),
              help="level: enter while the signal is beyond the threshold (default); cross: only when it crosses it.")
@click.option("--exit-threshold", type=float, help="Signal-exit threshold, 0-1.")
@click.option("--allow-short/--long-only", default=None, help="Take short entries.")
@click.option(
    "--fill", type=click.Choice(FILLS), help="Fill at the next open or at the signal bar's close."
)
@click.option("--size-pct", type=float, help="Percent of equity per entry (100 = all).")
@click.option("--size-cash", type=float, help="USD per entry.")
@click.option("--fractional/--whole-shares", default=None, help="Fractional or whole shares.")
@click.option("--sl", type=float, help="Stop-loss, fraction of entry (0.05 = 5%).")
@click.option("--tp", type=float, help="Take-profit, fraction of entry.")
@click.option("--trail", type=float, help="Trailing stop, fraction of the best price.")
@click.option("--max-bars", type=int, help="Time exit after this many bars.")
@click.option(
    "--commission", type=float, help="Commission, fraction of notional per fill (0.001 = 0.1%)."
)
@click.option("--commission-per-share", type=float, help="Commission, USD per share per fill.")
@click.option("--slippage", type=float, help="Slippage, fraction of price per fill.")
@click.option("--capital", type=float, help="Starting capital, USD.")
@click.option("--description", help="Free text stored with the run.")
@click.option("--tag", multiple=True, help="Tag stored with the run (repeatable).")
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Write metrics and trades as JSON."
)
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False),
    help="Write config, results, trades and a PNG here.",
)
@_options_flags
@click.option("--strict", is_flag=True, help="Refuse bars with NYSE sessions missing inside their range.")
@click.option("--no-record", is_flag=True,
              help="Do not record the run in research.backtest_runs of the live warehouse.")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="After recording, republish the read copy (so `primeflow query` and the workbench see the run).")
def backtest(**opts: Any) -> None:
    """Run a backtest and print its metrics.

    The run is recorded in the run history (research.backtest_runs / backtest_trades /
    backtest_equity of the live warehouse, PRIMEFLOW_DUCKDB) like a launchpad run, unless
    --no-record, and the read copy is republished so queries and the workbench see it
    (--no-publish to skip; then `primeflow publish` later). A run's id is its config and the
    hash of its bars: the same config on the same bars is the same run, kept as stored."""
    from primeflow_lib.research.dataset import load_bars
    from primeflow_lib.research.export import export_run
    from primeflow_lib.research.runner import json_safe, run_backtest

    try:
        cfg = build_config(opts)
        cfg.check_runnable()
        bars = load_bars(cfg, opts["db"])
        chain = None
        if cfg.mode == "options" and cfg.options.iv_source == "chain":
            from primeflow_lib.research.options.chain import load_chain

            chain = load_chain(cfg.dataset.symbol, cfg.dataset.end, opts["db"])
        result = run_backtest(cfg, bars, chain, strict=opts["strict"])
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    s = result.summary()
    click.echo(
        f"run {result.run_id}  {cfg.strategy}  {s['symbol']} {s['timeframe']}  "
        f"{s['first_bar']} .. {s['last_bar']}  ({s['n_bars']} bars)"
    )
    if cfg.mode == "options":
        click.echo(f"note: {result.iv_note}")
    for line in result.warnings:
        click.echo(f"WARNING: {line}")
    click.echo(metrics_table(result.metrics))
    if not opts["no_record"]:
        click.echo(record_run(result, publish=opts["publish"]))
    if opts["json_out"]:
        trades = result.trades.drop(columns=["entry_bar", "exit_bar"])
        payload = {
            "run_id": result.run_id, "summary": s, "metrics": json_safe(result.metrics),
            "config": result.config.to_dict(),  # auto_tune: the tuned values
            "trades": json.loads(trades.to_json(orient="records", date_format="iso")),
        }  # fmt: skip
        if cfg.mode == "options":
            payload["trades"] = _options_payload(result, payload["trades"])
        write_output(opts["json_out"], json.dumps(payload, indent=2) + "\n", "--json")
        click.echo(f"wrote {opts['json_out']}")
    if opts["export_dir"]:
        try:
            export_run(result, opts["export_dir"])
        except OSError as exc:
            raise click.BadParameter(f"{opts['export_dir']}: cannot write: {exc.strerror or exc}",
                                     param_hint="--export") from None
        click.echo(f"exported to {opts['export_dir']}")


def record_run(result, *, publish: bool = True) -> str:
    """Store ``result`` in the live warehouse's run history on one short write connection
    (:func:`primeflow_lib.warehouse.connect`), optionally republish the read copy; returns the
    line to print. A warehouse locked for more than 30 s is an error suggesting --no-record."""
    from primeflow_lib import warehouse
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.history import is_stored
    from primeflow_lib.research.record import record_run

    try:
        with warehouse.connect(lock_timeout_s=30.0) as con:
            known = is_stored(con, result.run_id)
            record_run(con, result)
            if publish:
                warehouse.publish_read_copy(con=con)
    except (warehouse.WarehouseError, ResearchError) as exc:
        raise click.ClickException(f"recording the run failed: {exc} (run again with --no-record "
                                   "to skip recording)") from None
    where = warehouse.warehouse_path()
    what = (f"run {result.run_id} was already in research.backtest_runs ({where}): same config, same bars, "
            "same numbers; the stored run is kept" if known
            else f"recorded run {result.run_id} in research.backtest_runs ({where})")
    if publish:
        return f"{what}; read copy republished"
    return f"{what}; queries on the read copy see it after `primeflow publish`"
