"""Backtest workbench: the five steps (dataset; indicators with parameters and tune ranges;
blend; exits and sizing; equities or options) as one form, run through the same library calls
as ``primeflow backtest``, recorded in run history, then metrics, equity and drawdown charts,
trades and (options runs) legs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import streamlit as st

from primeflow_lib.research.blend import BLEND_MODES
from primeflow_lib.research.engine import FILLS, SIZE_MODES
from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.metrics import EVALUATION_METRICS
from primeflow_lib.research.regime import REGIMES
from primeflow_lib.research.runconfig import STRATEGIES
from primeflow_lib.research.timeframes import TIMEFRAMES
from primeflow_lib.workbench import backtests as bt
from primeflow_lib.workbench import explain, readcopy
from primeflow_workbench import charts, options_form, widgets

HEADLINE = ("total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "n_trades")

st.title("Backtest")
widgets.require_read_copy()
catalog = bt.indicator_catalog()

preset = st.selectbox("Start from a preset", bt.preset_names(),
                      index=bt.preset_names().index("dual_sma"), key="bt_preset")
base = bt.preset_config(preset)
k = f"bt_{preset}_"  # widget keys per preset, so picking a preset resets the form to it

# --- 1. dataset ------------------------------------------------------------------------------
st.header("1 · Dataset", divider="gray")
c = st.columns([1, 2, 1, 1, 1])
source = c[0].radio("Bars from", ["warehouse", "CSV upload"], key="bt_source")
upload = None
symbols = widgets.cached(bt.warehouse_symbols)()
if source == "warehouse":
    if symbols.empty:
        c[1].warning("No daily bars in the read copy (market.ohlcv_daily).")
        symbol = ""
    else:
        labels = {r.ticker: f"{r.ticker} ({r.sessions} sessions {r.first} .. {r.last}, "
                            f"{r.vendor})" for r in symbols.itertuples()}
        symbol = c[1].selectbox("Symbol", list(labels), format_func=labels.get, key="bt_symbol")
        widgets.synthetic_notice(str(symbols.set_index("ticker").loc[symbol, "vendor"]).split(","),
                                 f"The bars of {symbol}")
else:
    upload = c[1].file_uploader("OHLCV CSV (Date,Open,High,Low,Close,Volume)", type=["csv"],
                                key="bt_upload")
    symbol = c[1].text_input("Name for the run (default: the file name)", key="bt_csv_symbol")
timeframe = c[2].selectbox("Timeframe", TIMEFRAMES, index=TIMEFRAMES.index("1d"), key="bt_tf")
start = c[3].date_input("Start", value=None, min_value=dt.date(1900, 1, 1), key="bt_start")
end = c[4].date_input("End", value=None, min_value=dt.date(1900, 1, 1), key="bt_end")

# --- 2. indicators ---------------------------------------------------------------------------
st.header("2 · Strategy and indicators", divider="gray")
c = st.columns([1, 3])
strategy = c[0].selectbox("Strategy", STRATEGIES, index=STRATEGIES.index(base["strategy"]),
                          key=k + "strategy")
chosen = c[1].multiselect("Indicators", list(catalog), default=list(base["indicators"]),
                          key=k + "indicators", disabled=strategy != "signals")
indicators: dict[str, dict] = {}
if strategy == "signals":
    for name in chosen:
        info = catalog[name.split(":", 1)[0]]
        given = base["indicators"].get(name, {}).get("params", {})
        with st.expander(f"{name}: {info['summary']}", expanded=False):
            st.caption(f"signal = {info['mapping']}")
            cols = st.columns(4)
            params = {}
            for i, (p, spec) in enumerate(info["params"].items()):
                lo, hi, step = spec["tune"]
                value = given.get(p, spec["default"])
                params[p] = cols[i % 4].number_input(
                    p, value=int(value) if spec["integer"] else float(value),
                    step=int(step) if spec["integer"] else float(step),
                    min_value=int(spec["minimum"]) if spec["integer"] else float(spec["minimum"]),
                    help=f"{spec['doc']} · tune range {lo:g} .. {hi:g} step {step:g}",
                    key=f"{k}{name}_{p}")
            tune = st.checkbox("auto-tune this indicator's parameters (tune ranges above)",
                               key=f"{k}{name}_tune")
        indicators[name] = {"params": params, "auto_tune": tune}

# --- 3. blend --------------------------------------------------------------------------------
st.header("3 · Blend", divider="gray")
b = base["blend"]
c = st.columns([1, 3])
blend_mode = c[0].selectbox("Blend mode", BLEND_MODES, index=BLEND_MODES.index(b["mode"]),
                            key=k + "blend", disabled=strategy != "signals")
blend: dict = {"mode": blend_mode}
if strategy == "signals" and chosen:
    if blend_mode in ("weighted_sum", "voting"):
        wcols = c[1].columns(min(len(chosen), 6))
        given_w = b.get("weights") or {}
        blend["weights"] = {n: wcols[i % len(wcols)].number_input(
            f"weight {n}", value=float(given_w.get(n, 1.0)), step=0.25, key=f"{k}w_{n}")
            for i, n in enumerate(chosen)}
        if blend_mode == "voting":
            blend["min_strength"] = c[0].number_input("min strength (abstain below)",
                                                      value=float(b["min_strength"]), step=0.05,
                                                      key=k + "minstr")
    elif blend_mode == "regime_weighted":
        rw = b.get("regime_weights") or {}
        grid = pd.DataFrame([{n: float((rw.get(r) or {}).get(n, 0.0 if r in rw else 1.0))
                              for n in chosen} for r in REGIMES], index=list(REGIMES))
        c[1].caption("Weight of each indicator in each regime (a row of zeros stands aside)")
        edited = c[1].data_editor(grid, key=k + "rw")
        blend["regime_weights"] = {r: {n: float(edited.loc[r, n]) for n in chosen}
                                   for r in REGIMES}
    else:  # phiai
        cc = c[1].columns(3)
        blend["window"] = cc[0].number_input("window (bars)", value=int(b["window"]), step=1,
                                             min_value=1, key=k + "win")
        blend["min_train"] = cc[1].number_input("min train (bars)", value=int(b["min_train"]),
                                                step=1, min_value=1, key=k + "mintrain")

# --- 4. exits and sizing ---------------------------------------------------------------------
st.header("4 · Entry, exits, costs and sizing", divider="gray")
e, x, ex, sz = base["entry"], base["exits"], base["execution"], base["sizing"]
c = st.columns(6)
entry = {"threshold": c[0].number_input("entry threshold |signal|", value=float(e["threshold"]),
                                        min_value=0.0, max_value=1.0, step=0.05, key=k + "thr"),
         "exit_threshold": c[1].number_input("exit threshold", value=float(e["exit_threshold"]),
                                             min_value=0.0, max_value=1.0, step=0.05,
                                             key=k + "xthr"),
         "allow_short": c[2].checkbox("allow shorts", value=bool(e["allow_short"]), key=k + "sh")}
frac = {"min_value": 0.0, "step": 0.01, "format": "%.3f"}
exits = {"stop_loss": c[3].number_input("stop-loss (fraction)", value=x["stop_loss"], **frac,
                                        key=k + "sl"),
         "take_profit": c[4].number_input("take-profit (fraction)", value=x["take_profit"],
                                          **frac, key=k + "tp"),
         "trailing_stop": c[5].number_input("trailing stop (fraction)", value=x["trailing_stop"],
                                            **frac, key=k + "trail")}
c = st.columns(6)
max_bars = c[0].number_input("time exit (bars)", value=x["max_bars"], min_value=1, step=1,
                             key=k + "maxbars")
exits["max_bars"] = int(max_bars) if max_bars is not None else None
exits["on_signal"] = c[1].checkbox("exit on opposite signal", value=bool(x["on_signal"]),
                                   key=k + "onsig")
execution = {"fill": c[2].selectbox("fill", FILLS, index=FILLS.index(ex["fill"]), key=k + "fill"),
             "commission_pct": c[3].number_input("commission (fraction of notional)",
                                                 value=float(ex["commission_pct"]), min_value=0.0,
                                                 step=0.0005, format="%.4f", key=k + "comm"),
             "commission_per_share": c[4].number_input("commission USD/share",
                                                       value=float(ex["commission_per_share"]),
                                                       min_value=0.0, step=0.001, format="%.3f",
                                                       key=k + "cps"),
             "slippage_pct": c[5].number_input("slippage (fraction)",
                                               value=float(ex["slippage_pct"]), min_value=0.0,
                                               step=0.0005, format="%.4f", key=k + "slip")}
c = st.columns(6)
sizing = {"mode": c[0].selectbox("sizing", SIZE_MODES, index=SIZE_MODES.index(sz["mode"]),
                                 key=k + "szmode")}
sizing["value"] = c[1].number_input(
    "fraction of equity" if sizing["mode"] == "percent_equity" else "USD per entry",
    value=float(sz["value"]) if sizing["mode"] == sz["mode"] else 10_000.0, min_value=0.0,
    key=k + "szval" + sizing["mode"])
sizing["fractional"] = c[2].checkbox("fractional shares", value=bool(sz["fractional"]),
                                     key=k + "frac")
capital = c[3].number_input("capital (USD)", value=float(base["capital"]), min_value=0.0,
                            step=10_000.0, key=k + "cap")
metric = c[4].selectbox("evaluation metric", list(EVALUATION_METRICS),
                        index=list(EVALUATION_METRICS).index(base["metric"]), key=k + "metric")

# --- 5. equities or options ------------------------------------------------------------------
st.header("5 · Equities or options", divider="gray")
mode = st.radio("Mode", ["equities", "options"], horizontal=True, key="bt_mode",
                index=1 if base.get("mode") == "options" else 0)
options = None
if mode == "options":
    options = options_form.section(base, k)

c = st.columns([3, 1, 1])
description = c[0].text_input("Description (stored with the run)", key="bt_desc")
record = c[1].checkbox("Record in run history", value=True, key="bt_record",
                       help="Writes the run to research.backtest_runs in the live warehouse "
                            "(short write connection), then republishes the read copy.")
go = c[2].button("Run backtest", type="primary", key="bt_run", width="stretch")

if go:
    st.session_state.pop("bt_last", None)
    saved = None
    with widgets.user_errors():
        ds = {"symbol": symbol or "", "timeframe": timeframe,
              "start": start.isoformat() if isinstance(start, dt.date) else None,
              "end": end.isoformat() if isinstance(end, dt.date) else None, "csv": None}
        if source != "warehouse":
            if upload is None:
                raise RunConfigError("dataset.csv: choose a CSV file to upload first")
            saved = bt.save_upload(upload.name, upload.getvalue())
            ds["csv"] = str(saved)
            ds["symbol"] = symbol or Path(upload.name).stem
        data = bt.form_config(
            base, dataset=ds, mode=mode, strategy=strategy, indicators=indicators, blend=blend,
            entry=entry, exits=exits, execution=execution, sizing=sizing, capital=capital,
            options=options, description=description, tags=(f"preset:{preset}", "workbench"))
        data["metric"] = metric
        with st.status("Running the backtest ...", expanded=False) as status:
            try:
                cfg = bt.build_config(data)
                st.write(f"config valid: config_id {cfg.config_id}")
                result = bt.run(cfg)
            except Exception:
                if saved is not None:  # a rejected upload leaves nothing behind, whatever failed
                    bt.discard_upload(saved)
                status.update(label="The backtest did not run", state="error")
                raise
            st.write(f"{len(result.equity)} bars, {len(result.trades)} trades, "
                     f"{result.elapsed_s:.2f} s")
            if record:
                status.update(label="Recording in run history ...")
                bt.record_run(result)
                st.write("recorded in research.backtest_runs; read copy republished")
            status.update(label=f"Run {result.run_id} done", state="complete")
        st.session_state["bt_last"] = {"result": result, "recorded": record}



last = st.session_state.get("bt_last")
if last:
    result = last["result"]
    cfg = result.config
    st.header(f"Results · run {result.run_id}", divider="blue")
    s = result.summary()
    st.caption(f"{cfg.strategy} on {s['symbol']} {s['timeframe']} · {s['first_bar']} .. "
               f"{s['last_bar']} ({s['n_bars']} bars) · data hash {result.data_hash}"
               + (" · recorded in history" if last["recorded"] else " · not recorded"))
    if cfg.dataset.csv:
        st.caption(f"Bars from the uploaded file {explain.display_path(cfg.dataset.csv)}")
    else:
        vend = symbols.set_index("ticker")["vendor"].get(cfg.dataset.symbol, "")
        widgets.synthetic_notice(str(vend).split(",") if vend else [], "The bars of this run")
    if cfg.mode == "options":
        options_form.iv_note(result)
    for line in result.warnings:  # data gaps, holidays, bars left out: every result says so
        st.warning(line, icon=":material/warning:")
    widgets.metric_tiles(result.metrics, HEADLINE)
    curve = pd.DataFrame({"ts": result.equity.index, "equity": result.equity.to_numpy(),
                          "drawdown": result.drawdown.to_numpy()})
    curve["segment"], _ = explain.gap_segments(curve["ts"])
    tabs = st.tabs(["Equity & drawdown", "Trades", "All metrics", "Config", "Legs"])
    with tabs[0]:
        st.altair_chart(charts.equity_chart(curve), width="stretch")
        st.altair_chart(charts.drawdown_chart(curve), width="stretch")
    with tabs[1]:
        st.dataframe(result.trades.drop(columns=["entry_bar", "exit_bar"], errors="ignore"),
                     hide_index=True)
    with tabs[2]:
        st.dataframe(widgets.metrics_frame(result.metrics), hide_index=True)
    with tabs[3]:
        st.code(bt.config_json(cfg), language="json")
    with tabs[4]:
        if cfg.mode != "options":
            st.caption("Equities run: no option legs.")
        else:
            options_form.legs(result, last["recorded"])
    if readcopy.resolve().is_file():
        st.caption("Compare it with other runs on the History page.")
