"""Options backtests on constructed paths: each exit rule, the same-bar rule, expiry at
intrinsic, the P&L = cash invariant on random runs, the realised-vol proxy, chain IV, bad input,
RunConfig / CLI / history wiring."""

from __future__ import annotations

import json
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from primeflow_lib import calendar
from primeflow_lib.research import RunConfig, read_run, run_backtest, write_run
from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.options import LEG_JSON_FIELDS, OptionsSpec, simulate_options
from primeflow_lib.research.options.vol import realized_vol

DAYS = calendar.sessions("2024-01-02", "2024-06-28")


def _bars(levels: np.ndarray) -> pd.DataFrame:
    """Bars whose open = previous close (no gaps) and a small alternating wiggle so the
    realised vol is never 0."""
    n = len(levels)
    wig = 1.0 + 0.004 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    close = np.asarray(levels, dtype=float) * wig
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
         "close": close, "volume": 1e6},
        index=pd.DatetimeIndex(DAYS[:n]),
    )  # fmt: skip


def _run(levels, signal, **spec):
    base = {"bullish": "bull_put", "bearish": "bear_call", "vol_window": 5, "dte": 30}
    s = OptionsSpec.from_dict({**base, **spec})
    kw = {k: spec.pop(k) for k in () if k in spec}
    return simulate_options(_bars(levels), np.asarray(signal, float), s, capital=100_000.0,
                            threshold=0.5, **kw)  # fmt: skip


def _signal(n, at=10, value=1.0):
    s = np.full(n, np.nan)
    s[at] = value
    return s


N = 60


def test_entry_fills_next_open_and_legs_share_spot_and_time():
    r = _run(np.full(N, 100.0), _signal(N))
    t = r.trades.iloc[0]
    assert t.entry_bar == 11 and t.structure == "bull_put" and t.side == "short"
    legs = r.legs[r.legs.trade_no == 1]
    assert legs.entry_spot.nunique() == 1 and legs.entry_ts.nunique() == 1
    assert legs.entry_spot.iloc[0] == _bars(np.full(N, 100.0)).open.iloc[11]
    assert str(legs.entry_ts.iloc[0]) == f"{DAYS[11]} 09:30:00"
    short, long_ = legs.iloc[0], legs.iloc[1]
    assert short.contracts == -1 and long_.contracts == 1 and short.strike - long_.strike == 5
    assert short.entry_fill < short.entry_mid and long_.entry_fill > long_.entry_mid


def test_expiry_settles_at_intrinsic_of_the_expiry_close():
    levels = np.full(N, 100.0)
    r = _run(levels, _signal(N))
    t = r.trades.iloc[0]
    assert t.exit_reason == "expiry"
    legs = r.legs[r.legs.trade_no == 1]
    exp = pd.Timestamp(legs.expiry.iloc[0])
    assert t.exit_ts == exp
    spot = _bars(levels).close.loc[exp]
    for leg in legs.itertuples():
        intrinsic = max(leg.strike - spot, 0.0) if leg.right == "P" else max(spot - leg.strike, 0.0)
        assert leg.exit_mid == intrinsic and leg.exit_fill == intrinsic and leg.exit_years == 0.0


def test_stop_on_a_crash_and_stop_wins_over_signal_same_bar():
    levels = np.full(N, 100.0)
    levels[14:] = 90.0
    sig = _signal(N)
    sig[14] = -1.0  # bearish on the very close the stop triggers
    r = _run(levels, sig, stop=1.0)
    t = r.trades.iloc[0]
    assert t.exit_reason == "stop" and t.exit_bar == 15 and t.pnl < 0


def test_profit_take_on_a_rally():
    levels = np.full(N, 100.0)
    levels[13:] = 115.0
    r = _run(levels, _signal(N), profit_take=0.5)
    t = r.trades.iloc[0]
    assert t.exit_reason == "profit_take" and t.exit_bar > 13 and t.pnl > 0


def test_dte_exit_signal_exit_and_time_exit():
    flat = np.full(N, 100.0)
    r = _run(flat, _signal(N), dte_exit=20)
    t = r.trades.iloc[0]
    legs = r.legs[r.legs.trade_no == 1]
    days_left = (legs.expiry.iloc[0] - DAYS[t.exit_bar - 1]).days
    assert t.exit_reason == "dte" and days_left <= 20
    sig = _signal(N)
    sig[20] = -1.0
    r = _run(flat, sig)
    assert r.trades.iloc[0].exit_reason == "signal" and r.trades.iloc[0].exit_bar == 21
    assert r.trades.iloc[1].structure == "bear_call" and r.trades.iloc[1].entry_bar == 21
    s = OptionsSpec.from_dict({"vol_window": 5, "dte": 30})
    r = simulate_options(_bars(flat), _signal(N), s, capital=1e5, threshold=0.5, max_bars=3)
    assert r.trades.iloc[0].exit_reason == "time" and r.trades.iloc[0].bars_held == 4


def test_open_trade_at_the_end_and_vertical_within_width():
    r = _run(np.full(25, 100.0), _signal(25))
    t = r.trades.iloc[0]
    assert t.is_open and t.exit_reason == "open"
    assert r.equity.iloc[-1] - 1e5 == pytest.approx(r.trades.pnl.sum(), abs=1e-8)


@pytest.mark.parametrize("seed", range(6))
def test_pnl_equals_cash_on_random_runs(seed):
    rng = np.random.default_rng(seed)
    days = calendar.sessions("2019-01-02", "2021-12-31")
    n = len(days)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    bars = pd.DataFrame({"open": open_, "close": close}, index=pd.DatetimeIndex(days))
    names = ["long_call", "bear_put", "iron_condor", "long_straddle", "call_calendar",
             "short_strangle", "iron_butterfly", "put_calendar", "bull_call"]  # fmt: skip
    spec = OptionsSpec.from_dict({
        "bullish": str(rng.choice(names)), "bearish": str(rng.choice(names)),
        "neutral": str(rng.choice(names)), "dte": int(rng.integers(5, 60)),
        "expiry_cycle": str(rng.choice(["weekly", "monthly"])),
        "profit_take": 0.5, "stop": 1.5, "dte_exit": int(rng.integers(0, 5)),
        "contracts": int(rng.integers(1, 4)), "rate": 0.03, "div_yield": 0.01, "put_skew": 0.2,
    })  # fmt: skip
    sig = np.clip(rng.normal(0, 0.6, n), -1, 1)
    r = simulate_options(bars, sig, spec, capital=1e5, threshold=0.3, exit_threshold=0.2)
    assert len(r.trades) > 5
    # every closed trade's pnl is its legs' fills x 100 minus fees
    closed = r.trades[~r.trades.is_open]
    legs = r.legs.set_index("trade_no")
    for t in closed.itertuples():
        lg = legs.loc[[t.trade_no]]
        flow = (lg.contracts * 100.0 * (lg.exit_fill - lg.entry_fill)).sum()
        assert t.pnl == pytest.approx(flow - t.fees, abs=1e-8)
    assert r.equity.iloc[-1] - 1e5 == pytest.approx(r.trades.pnl.sum(), abs=1e-6)


def test_risk_sizing_bounds_max_loss():
    r = _run(np.full(N, 100.0), _signal(N), sizing="risk", risk_fraction=0.05)
    t = r.trades.iloc[0]
    max_loss = (5.0 - t.entry_price) * 100 * t.qty
    assert t.qty > 1 and max_loss <= 0.05 * 1e5


def test_realized_vol_proxy_on_a_constructed_series():
    rets = np.array([0.01, -0.02, 0.03, 0.0, -0.01, 0.02])
    close = 50.0 * np.exp(np.concatenate([[0.0], np.cumsum(rets)]))
    v = realized_vol(close, 4, 252)
    assert np.isnan(v[:4]).all()
    assert v[4] == pytest.approx(np.std(rets[:4], ddof=1) * math.sqrt(252), rel=1e-12)
    assert v[6] == pytest.approx(np.std(rets[2:6], ddof=1) * math.sqrt(252), rel=1e-12)
    with pytest.raises(RunConfigError, match=r"options.vol_window: 20 needs at least 21 bars"):
        realized_vol(close, 20, 252)


def _chain(dates, iv=0.3):
    rows = []
    for d in dates:
        for e in ("2024-02-16", "2024-03-15", "2024-04-19"):
            for k in range(80, 125, 5):
                for right in ("C", "P"):
                    rows.append((d, "TEST", e, right, float(k), iv))
    return pd.DataFrame(rows, columns=["trade_date", "underlying", "expiry", "right", "strike",
                                       "iv"])  # fmt: skip


def test_chain_iv_is_used_and_recorded():
    flat = np.full(30, 100.0)
    spec = OptionsSpec.from_dict({"iv_source": "chain", "dte": 30, "chain_max_age_days": 40})
    chain = _chain([str(d) for d in DAYS[:30]], iv=0.3)
    r = simulate_options(_bars(flat), _signal(30), spec, capital=1e5, threshold=0.5,
                         chain=chain, symbol="TEST")  # fmt: skip
    assert r.iv_source == "chain" and (r.legs.iv_source == "chain").all()
    assert r.legs.entry_iv.to_numpy() == pytest.approx(0.3)
    assert "market.option_chain" in r.note


def test_missing_chain_snapshot_is_an_error_never_a_proxy():
    flat = np.full(30, 100.0)
    spec = OptionsSpec.from_dict({"iv_source": "chain", "dte": 30})
    with pytest.raises(RunConfigError, match="options.iv_source"):
        simulate_options(_bars(flat), _signal(30), spec, capital=1e5, threshold=0.5,
                         chain=None, symbol="TEST")  # fmt: skip
    # snapshots only start after the entry decision bar -> error naming the bar
    late = _chain([str(d) for d in DAYS[15:30]])
    with pytest.raises(RunConfigError, match="no snapshot dated on or before"):
        simulate_options(_bars(flat), _signal(30), spec, capital=1e5, threshold=0.5,
                         chain=late, symbol="TEST")  # fmt: skip
    stale = _chain([str(DAYS[0])])
    with pytest.raises(RunConfigError, match="chain_max_age_days"):
        simulate_options(_bars(flat), _signal(30), spec, capital=1e5, threshold=0.5,
                         chain=stale, symbol="TEST")  # fmt: skip


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"bullish": "bull_putt"}, r"options.bullish: 'bull_putt' is not a structure"),
        ({"width": 0}, r"options.width: 0.0 must be > 0"),
        ({"width": -5}, r"options.width: -5.0 must be > 0"),
        ({"short_delta": 1.2}, r"options.short_delta: 1.2 must be inside \(0, 1\)"),
        ({"long_delta": 0}, r"options.long_delta: 0.0 must be inside \(0, 1\)"),
        ({"dte": 0}, r"options.dte: 0 is shorter than one session"),
        ({"iv_source": "guess"}, r"options.iv_source: 'guess' is not one of"),
        ({"neutral": "short_straddle", "sizing": "risk"}, r"options.neutral: 'short_straddle'"),
        ({"strike_grid": [[25, 0]]}, r"options.strike_grid\[0\].increment"),
        ({"rate": {"2024-13-01": 0.01}}, r"options.rate: '2024-13-01' is not a date"),
        ({"colour": 1}, r"options: unknown key 'colour'"),
    ],
)
def test_bad_input_names_the_field(options, match):
    with pytest.raises(RunConfigError, match=match):
        RunConfig.from_dict({"mode": "options", "indicators": {"rsi": {}}, "options": options})


def test_runconfig_run_id_includes_options_and_equity_ids_are_unchanged():
    base = {"mode": "options", "indicators": {"rsi": {}}}
    a = RunConfig.from_dict({**base, "options": {"dte": 30}})
    b = RunConfig.from_dict({**base, "options": {"dte": 31}})
    assert a.config_id != b.config_id
    assert RunConfig.from_json(a.to_json()) == a
    eq1 = RunConfig.from_dict({"indicators": {"rsi": {}}})
    eq2 = RunConfig.from_dict({"indicators": {"rsi": {}}, "options": {"dte": 31}})
    assert eq1.config_id == eq2.config_id  # the options section does not move equity runs
    with pytest.raises(RunConfigError, match="dataset.timeframe"):
        RunConfig.from_dict({**base, "dataset": {"timeframe": "1h"}}).check_runnable()


def test_options_run_lands_in_history_and_cli_json(tmp_path):
    days = calendar.sessions("2021-01-04", "2022-12-30")
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.012, len(days))))
    csv = tmp_path / "GOOG.csv"
    pd.DataFrame({"Date": [str(d) for d in days], "Open": c, "High": c * 1.01, "Low": c * 0.99,
                  "Close": c, "Volume": 1e6}).to_csv(csv, index=False)  # fmt: skip
    from primeflow_pipelines.commands.backtest import backtest

    out = tmp_path / "o.json"
    res = CliRunner().invoke(backtest, [
        "--csv", str(csv), "--strategy", "rsi", "--mode", "options", "--structure", "bull_put",
        "--dte", "45", "--short-delta", "0.30", "--width", "5", "--profit-take", "0.5",
        "--stop", "2.0", "--json", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "iv_source realized" in res.output
    payload = json.loads(out.read_text())
    assert payload["summary"]["iv_source"] == "realized"
    legs = payload["trades"][0]["legs"]
    assert len(legs) == 2 and tuple(legs[0]) == LEG_JSON_FIELDS
    cfg = RunConfig.from_dict(payload["config"])
    from primeflow_lib.research.data import load_csv

    result = run_backtest(cfg, load_csv(csv))
    con = duckdb.connect()
    write_run(con, result)
    stored = read_run(con, result.run_id)
    assert stored["run"]["mode"] == "options"
    assert len(stored["legs"]) == len(result.legs) > 0
    assert len(stored["trades"]) == len(result.trades)
    res = CliRunner().invoke(backtest, ["--csv", str(csv), "--strategy", "rsi", "--structure",
                                        "bull_putt"])  # fmt: skip
    assert res.exit_code != 0 and "bull_putt" in res.output


def test_cli_chain_run_reads_the_warehouse_chain(tmp_path):
    from primeflow_lib.schema.market import OPTION_CHAIN
    from primeflow_pipelines.commands.backtest import backtest

    days = DAYS[:100]
    rng = np.random.default_rng(5)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    csv = tmp_path / "TEST.csv"
    pd.DataFrame({"Date": [str(d) for d in days], "Open": c, "High": c * 1.01, "Low": c * 0.99,
                  "Close": c, "Volume": 1e6}).to_csv(csv, index=False)  # fmt: skip
    db = tmp_path / "read.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA market")
    con.execute(OPTION_CHAIN.ddl())
    ch = _chain([str(d) for d in days], iv=0.25)
    ch = ch[ch.expiry.isin(["2024-03-15", "2024-04-19"])]
    for e in ("2024-05-17", "2024-06-21", "2024-07-19", "2024-08-16"):
        extra = _chain([str(d) for d in days], iv=0.25)
        extra["expiry"] = e
        ch = pd.concat([ch, extra.drop_duplicates()])
    ch = ch.assign(option_symbol=[f"X{i}" for i in range(len(ch))])
    ch = ch[pd.to_datetime(ch.expiry) > pd.to_datetime(ch.trade_date)]
    con.register("ch", ch)
    con.execute("INSERT INTO market.option_chain (trade_date, underlying, option_symbol, expiry, "
                "\"right\", strike, iv, vendor) SELECT trade_date::DATE, underlying, option_symbol, "
                "expiry::DATE, \"right\", strike, iv, 'test' FROM ch")  # fmt: skip
    con.close()
    out = tmp_path / "o.json"
    res = CliRunner().invoke(backtest, [
        "--csv", str(csv), "--strategy", "rsi", "--structure", "iron_condor", "--threshold",
        "0.5", "--iv-source", "chain", "--db", str(db), "--json", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "iv_source chain" in res.output
    payload = json.loads(out.read_text())
    assert payload["summary"]["iv_source"] == "chain"
    legs = [leg for t in payload["trades"] for leg in t["legs"]]
    assert legs and all(leg["entry_iv"] == pytest.approx(0.25) for leg in legs)
