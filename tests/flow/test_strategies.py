"""Strategies: every gate switched on and off, per-ticker overrides, ids, round-trips."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, SWING_SYM, SYM, make_prints

from primeflow_lib.config import load_config
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.heartbeat import heartbeat_frame, heartbeat_row
from primeflow_lib.flow.scoring import TAGS, score_base, score_signal
from primeflow_lib.models import FlowEvent, Signal
from primeflow_lib.schema import table


def run(sc, cfg=None, **over):
    d = {**sc, **over}
    return score_batch(
        d["prints"], d["bars_1m"], d["daily_bars"], d["chain"], cfg or d["cfg"], d["history"]
    )


def kinds(res, kind):
    return res.signals[res.signals.kind == kind]


def test_scenario_fires_all_three_kinds(scenario):
    res = run(scenario)
    assert res.stats["signals_by_kind"] == {"SCALP": 2, "DAY_TRADE": 1, "SWING": 1}
    day = kinds(res, "DAY_TRADE").iloc[0]
    assert day.ts == pd.Timestamp(f"{DAY.date()} 10:30:00.004")  # the second sweep
    assert "cluster>=2sweeps/30m" in json.loads(day.rules_passed)
    assert json.loads(day.context_json)["cluster"] == 2
    sw = kinds(res, "SWING").iloc[0]
    assert sw.option_symbol == SWING_SYM and json.loads(sw.context_json)["repeat_days"] == 2
    for tag in ("SIZE", "SWEEP", "AGGRESSIVE", "VOL>OI", "TREND_CONFIRMED"):
        assert tag in kinds(res, "SCALP").tags.iloc[0].split(",")
    assert "BLOCK" in sw.tags.split(",") and "REPEAT" in sw.tags.split(",")
    assert res.stats["signals_by_kind_tag"]["SCALP"]["SWEEP"] == 2


SCALP_GATES = [
    ("enabled", {"enabled": False}),
    ("dte<=5", {"max_dte": 5}),
    ("premium>=1000000", {"min_premium": 1_000_000.0}),
    ("|otm|<=0.001", {"max_otm_pct": 0.001}),
    ("rvol>=5", {"min_rvol": 5.0}),
    ("strength>=0.99", {"min_strength": 0.99}),
]


@pytest.mark.parametrize(("gate", "change"), SCALP_GATES)
def test_scalp_gate_switches_off(gate, change, scenario):
    cfg = copy.deepcopy(scenario["cfg"])
    cfg["scalp"].update(change)
    res = run(scenario, cfg)
    assert len(kinds(res, "SCALP")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"][gate] >= 2


def test_scalp_aggressive_side_gate(scenario):
    p = scenario["prints"].copy()
    p.loc[p.conditions == "219", "price"] = 2.48  # to_ask: bullish but inside the spread
    res = run(scenario, prints=p)
    assert len(kinds(res, "SCALP")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["aggressive_side"] == 2


def test_momentum_gate(scenario):
    cfg = copy.deepcopy(scenario["cfg"])
    cfg["flow"]["trend_15m_threshold"] = 0.5
    res = run(scenario, cfg)
    assert len(kinds(res, "SCALP")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["momentum_15m"] == 3
    # DayTrend treats momentum as a soft check: still fires, and says it failed
    day = kinds(res, "DAY_TRADE")
    assert len(day) == 1 and "momentum_15m" in json.loads(day.rules_failed.iloc[0])


def test_vwap_gate(scenario):
    bars = scenario["bars_1m"].copy()
    today = bars.ts >= DAY + pd.Timedelta("09:30:00")
    early = today & (bars.ts < DAY + pd.Timedelta("10:00:00"))
    bars.loc[early, ["open", "high", "low", "close", "vwap"]] += 5.0  # VWAP far above spot
    bars.loc[early, "volume"] = 50_000
    res = run(scenario, bars_1m=bars)
    assert len(kinds(res, "SCALP")) == len(kinds(res, "DAY_TRADE")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["vwap_side"] == 3


def test_late_orders_never_signal(scenario):
    p = scenario["prints"].copy()
    p["conditions"] = p["conditions"].where(p["conditions"] != "219", "219,204")
    res = run(scenario, prints=p)
    assert len(kinds(res, "SCALP")) == 0 and len(kinds(res, "DAY_TRADE")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["not_late"] == 8


def test_day_trade_cluster_gate(scenario):
    cfg = copy.deepcopy(scenario["cfg"])
    cfg["day_trade"]["min_cluster_sweeps"] = 3
    assert len(kinds(run(scenario, cfg), "DAY_TRADE")) == 0
    cfg["day_trade"]["min_cluster_sweeps"] = 2
    cfg["day_trade"]["cluster_window_minutes"] = 10  # sweeps are 15 minutes apart
    assert len(kinds(run(scenario, cfg), "DAY_TRADE")) == 0
    # an earlier micro-batch of the same session counts toward the cluster
    first = scenario["prints"][scenario["prints"].sip_ts < DAY + pd.Timedelta("10:20:00")]
    second = scenario["prints"][scenario["prints"].sip_ts >= DAY + pd.Timedelta("10:20:00")]
    r1 = run(scenario, prints=first)
    hist = pd.concat([scenario["history"], r1.events], ignore_index=True)
    r2 = run(scenario, prints=second, history=hist)
    assert len(kinds(r2, "DAY_TRADE")) == 1
    assert r2.events.day_volume.iloc[0] == 4000  # volume from the earlier batch included


def test_swing_repeat_days_need_history(scenario):
    res = run(scenario, history=scenario["history"].iloc[:0])
    assert len(kinds(res, "SWING")) == 0
    assert res.stats["funnel"]["SWING"]["failed"]["repeat_days>=2/5d"] == 3
    old = scenario["history"].assign(trade_date=pd.Timestamp("2025-05-01"))
    assert len(kinds(run(scenario, history=old), "SWING")) == 0  # outside the lookback


def test_swing_dte_gate(scenario):
    cfg = copy.deepcopy(scenario["cfg"])
    cfg["swing"]["min_dte"] = 40
    assert len(kinds(run(scenario, cfg), "SWING")) == 0


def test_per_ticker_override_changes_the_outcome(scenario, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "tickers:\n  overrides:\n    xyz:\n      scalp:\n        min_premium: 600000\n"
        "    OTHER:\n      scalp:\n        min_premium: 1\n"
    )
    cfg = load_config(path, with_api_keys=False)
    res = run(scenario, cfg)
    assert len(kinds(res, "SCALP")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["premium>=600000"] == 3
    assert len(kinds(res, "DAY_TRADE")) == 1  # other strategies keep the defaults
    path.write_text("tickers:\n  overrides:\n    XYZ:\n      swing:\n        min_repeat_days: 1\n")
    cfg = load_config(path, with_api_keys=False)
    res = run(scenario, cfg, history=scenario["history"].iloc[:0])
    assert len(kinds(res, "SWING")) == 1
    assert "repeat_days>=1/5d" in json.loads(kinds(res, "SWING").rules_passed.iloc[0])


def test_rescoring_gives_identical_ids_and_frames(scenario):
    a, b = run(scenario), run(scenario)
    assert list(a.signals.signal_id) == list(b.signals.signal_id)
    for name in ("events", "context", "signals"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    # the batch's own earlier output passed back as history is ignored (idempotent reruns)
    c = run(scenario, history=pd.concat([scenario["history"], a.events], ignore_index=True))
    pd.testing.assert_frame_equal(a.signals, c.signals)
    assert a.signals.signal_id.is_unique


def test_signals_round_trip_through_signal_model(scenario):
    res = run(scenario)
    cols = table("flow.signals").column_names
    assert list(res.signals.columns) == cols
    for row in res.signals.to_dict(orient="records"):
        s = Signal.from_row(row)
        assert s.kind in ("SCALP", "DAY_TRADE", "SWING")
        assert s.tags and set(s.tags) <= set(TAGS)
        assert s.rules_passed and "enabled" in s.rules_passed
        assert s.context["spot"] == pytest.approx(s.spot)
        assert all(pid in ",".join(res.events.print_ids) for pid in s.print_ids)
        assert 0.0 <= s.strength <= 1.0
    ev = FlowEvent.from_row(res.events.iloc[0].to_dict())
    assert len(ev.print_id_list) == 4


def test_declared_columns_match_frames(scenario):
    res = run(scenario)
    assert list(res.events.columns) == table("flow.flow_events").column_names
    assert list(res.context.columns) == table("flow.flow_context").column_names
    for name, frame in (("flow.flow_events", res.events), ("flow.flow_context", res.context)):
        t = table(name)
        for c in t.columns:
            if not c.nullable:
                assert frame[c.name].notna().all(), (name, c.name)


def test_score_weights_and_tags(scenario, cfg):
    c = pd.DataFrame(
        {
            "premium": [10_000.0, 10_000_000.0],
            "side": ["mid", "above_ask"],
            "side_confidence": ["medium", "high"],
            "event_type": ["single", "sweep"],
            "vol_oi": [float("nan"), 5.0],
            "rvol": [float("nan"), 3.0],
            "trend_15m": ["DOWN", "UP"],
            "daily_trend": ["DOWN", "UP"],
            "vwap_dist": [-0.01, 0.01],
            "sentiment_sign": [1, 1],
        }
    )
    strength, tags, comps = score_signal(c, cfg["flow"], min_premium=50_000.0)
    assert strength[0] == pytest.approx(0.15 * 0.3)  # only the event type scores
    assert strength[1] == pytest.approx(1.0)
    # no gex_regime column: NEG_GAMMA (last) is not earned
    assert tags[1].tolist() == [True, True, True, True, True, False, False, True, False]
    # the strategies share one score_base; SIZE and REPEAT stay each strategy's own
    base = score_base(c, cfg["flow"])
    for min_premium, repeat in ((50_000.0, None), (5_000_000.0, np.array([True, False]))):
        got = score_signal(c, cfg["flow"], min_premium=min_premium, repeat=repeat, base=base)
        want = score_signal(c, cfg["flow"], min_premium=min_premium, repeat=repeat)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        assert got[2].keys() == want[2].keys() and all(np.array_equal(got[2][k], want[2][k]) for k in want[2])
    assert score_signal(c, cfg["flow"], min_premium=5_000_000.0, base=base)[1][1].tolist()[0] is True  # SIZE
    assert score_signal(c, cfg["flow"], min_premium=50_000_000.0, base=base)[1][1].tolist()[0] is False


def test_heartbeat_row(scenario):
    res = run(scenario)
    row = heartbeat_row(
        res, source="inbox/x.parquet", now=pd.Timestamp(f"{DAY.date()} 10:40:05").to_pydatetime()
    )
    assert row["signals_by_kind"] == {"SCALP": 2, "DAY_TRADE": 1, "SWING": 1}
    assert row["lag_seconds"] == pytest.approx(5.0)
    assert row["events"] == 3 and row["events_per_minute"] == pytest.approx(3 / 25, rel=1e-3)
    assert list(heartbeat_frame(row).columns) == table("live.heartbeat").column_names


def test_put_flow_gives_bearish_signals(scenario):
    p = make_prints(
        [
            {
                "t": f"{hhmm}:00.00{k + 1}",
                "option_symbol": SYM.replace("C00101000", "P00099000"),
                "exchange": ex,
                "price": 2.50,
                "size": 500,
                "conditions": "219",
            }
            for hhmm in ("10:15", "10:30")
            for k, ex in enumerate((302, 308, 316, 323))
        ]
    )
    res = run(scenario, prints=p)
    assert set(res.events.sentiment) == {"bearish"}
    # bullish tape: the 15-minute trend and VWAP gates stop bearish scalps
    assert len(kinds(res, "SCALP")) == 0
    assert res.stats["funnel"]["SCALP"]["failed"]["momentum_15m"] == 2


@pytest.mark.parametrize(
    ("kind", "section", "gate", "change"),
    [
        ("DAY_TRADE", "day_trade", "enabled", {"enabled": False}),
        ("DAY_TRADE", "day_trade", "dte<=5", {"max_dte": 5}),
        ("DAY_TRADE", "day_trade", "premium>=900000", {"min_premium": 900_000.0}),
        ("DAY_TRADE", "day_trade", "|otm|<=0.001", {"max_otm_pct": 0.001}),
        ("DAY_TRADE", "day_trade", "rvol>=5", {"min_rvol": 5.0}),
        ("DAY_TRADE", "day_trade", "strength>=0.99", {"min_strength": 0.99}),
        ("SWING", "swing", "enabled", {"enabled": False}),
        ("SWING", "swing", "premium>=900000", {"min_premium": 900_000.0}),
        ("SWING", "swing", "|otm|<=0.01", {"max_otm_pct": 0.01}),
        ("SWING", "swing", "strength>=0.99", {"min_strength": 0.99}),
    ],
)
def test_day_trade_and_swing_gates_switch_off(kind, section, gate, change, scenario):
    assert len(kinds(run(scenario), kind)) == 1
    cfg = copy.deepcopy(scenario["cfg"])
    cfg[section].update(change)
    res = run(scenario, cfg)
    assert len(kinds(res, kind)) == 0
    assert res.stats["funnel"][kind]["failed"][gate] >= 1


def test_daily_trend_against_blocks_day_trade_and_swing(scenario):
    daily = scenario["daily_bars"].copy()
    xyz = daily.ticker == "XYZ"
    daily.loc[xyz, ["open", "high", "low", "close"]] = daily.loc[
        xyz, ["open", "high", "low", "close"]
    ].to_numpy()[::-1]  # 100 -> 90: DOWN
    res = run(scenario, daily_bars=daily)
    assert len(kinds(res, "DAY_TRADE")) == len(kinds(res, "SWING")) == 0
    assert res.stats["funnel"]["SWING"]["failed"]["daily_trend_not_against"] == 3


def test_count_in_window_over_the_queried_keys_only_gives_the_full_sorts_counts():
    """The pool is narrowed to the queried keys before sorting (a streaming step's few candidates
    against a day's pool); the counts equal those over the whole pool, scale included."""
    from primeflow_lib.flow.strategies import _count_in_window

    def full(pk, pt, qk, qlo, qhi):  # the whole pool sorted, as before
        o = np.lexsort((pt, pk))
        pk, pt = pk[o], pt[o]
        base = min(int(pt.min()), int(qlo.min()))
        span = max(int(pt.max()), int(qhi.max())) - base + 2
        shift = 1
        while span // shift >= (1 << 40):
            shift *= 10

        def comp(k, t):
            return k.astype(np.int64) * (1 << 40) + (np.clip(t, base, base + span - 1) - base) // shift

        pc = comp(pk, pt)
        return np.searchsorted(pc, comp(qk, qhi), side="right") - np.searchsorted(pc, comp(qk, qlo), side="left")

    rng = np.random.default_rng(11)
    for n, q, horizon in ((50_000, 7, 6 * 3600 * 10**9), (20_000, 3, 600 * 10**9), (5_000, 900, 6 * 3600 * 10**9)):
        pk = rng.integers(0, 900, n)
        pt = np.sort(rng.integers(0, horizon, n))
        qk = np.append(rng.choice(pk, q - 1), 10_000)  # and a key the pool does not hold
        qhi = rng.choice(pt, q)
        qlo = qhi - rng.integers(0, horizon // 4, q)
        got = _count_in_window(pk, pt, qk, qlo, qhi)
        assert (got == full(pk, pt, qk, qlo, qhi)).all()
        assert got.sum() > 0 and got[-1] == 0
