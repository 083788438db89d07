"""Dealer gamma exposure on hand-built chains with known answers, and the gex_* context fields."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, build_scenario
from scipy.optimize import brentq
from scipy.stats import norm

from primeflow_lib.alerts.formatting import format_deep_dive
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.gex import GexInputError, compute_gex, gex_context, zero_gamma
from primeflow_lib.models import Signal
from primeflow_lib.pricing import bs_gamma, bs_gamma_profile, bs_greeks

SNAP = dt.date(2024, 1, 2)
EXP = dt.date(2024, 2, 1)  # 30 calendar days after SNAP
T = 30 / 365


def chain(legs, spot=100.0, underlying="AAA", day=SNAP):
    """Chain rows from (right, strike, open_interest, iv[, expiry]) tuples."""
    rows = []
    for leg in legs:
        right, k, oi, iv = leg[:4]
        rows.append({"trade_date": day, "underlying": underlying, "expiry": leg[4] if len(leg) > 4 else EXP,
                     "right": right, "strike": float(k), "open_interest": oi, "iv": iv,
                     "underlying_price": spot, "vendor": "test"})
    return pd.DataFrame(rows)


def ref_gamma(s, k, t, v):
    """Textbook Black-Scholes gamma with r = q = 0 (independent of primeflow_lib.pricing)."""
    d1 = (np.log(s / k) + 0.5 * v * v * t) / (v * np.sqrt(t))
    return norm.pdf(d1) / (s * v * np.sqrt(t))


def ref_profile(spots, legs, call_sign=1.0):
    tot = np.zeros_like(spots)
    for right, k, oi, iv in legs:
        sign = call_sign if right == "C" else -1.0
        tot += sign * ref_gamma(spots, k, T, iv) * oi * 100 * spots**2 * 0.01
    return tot


def test_single_contract_gex_known_value_and_both_conventions():
    legs = [("C", 100, 1000, 0.2)]
    gamma = math.exp(-0.5 * (0.1 * math.sqrt(T)) ** 2) / math.sqrt(2 * math.pi) / (100 * 0.2 * math.sqrt(T))
    want = gamma * 1000 * 100 * 100**2 * 0.01
    naive = compute_gex(chain(legs)).levels.iloc[0]
    short = compute_gex(chain(legs), convention="dealer_short_all").levels.iloc[0]
    assert naive.total_gex == pytest.approx(want, rel=1e-12) and naive.call_gex == pytest.approx(want, rel=1e-12)
    assert short.total_gex == pytest.approx(-want, rel=1e-12)
    assert naive.convention == "dealer_long_calls_short_puts" and short.convention == "dealer_short_all"
    # only calls: no negative strike, the profile keeps its sign -> no put wall, no flip (never spot or 0)
    assert naive.call_wall == 100.0 and np.isnan(naive.put_wall)
    assert np.isnan(naive.zero_gamma) and naive.flip_crossings == 0
    assert np.isnan(short.call_wall) and short.put_wall == 100.0 and np.isnan(short.zero_gamma)
    # puts are negative under both conventions
    p = compute_gex(chain([("P", 100, 1000, 0.2)]), convention="dealer_short_all").levels.iloc[0]
    assert p.total_gex == pytest.approx(-want, rel=1e-12)


def test_flip_of_a_symmetric_strangle_has_a_closed_form():
    # call at 110 and put at 90, same OI and IV, r = 0: gamma is equal where the d1 are opposite,
    # at S* = sqrt(110 * 90) * exp(-sigma^2 T / 2); below it the put dominates (negative)
    iv = 0.25
    legs = [("C", 110, 5000, iv), ("P", 90, 5000, iv)]
    s_star = math.sqrt(110 * 90) * math.exp(-0.5 * iv * iv * T)
    fine = compute_gex(chain(legs), grid_points=4001).levels.iloc[0]
    assert fine.zero_gamma == pytest.approx(s_star, abs=1e-3) and fine.flip_crossings == 1
    coarse = compute_gex(chain(legs)).levels.iloc[0]  # the default 60-point grid
    assert coarse.zero_gamma == pytest.approx(s_star, abs=0.05)
    assert coarse.call_wall == 110.0 and coarse.put_wall == 90.0
    # the same chain under dealer_short_all is negative everywhere: no flip
    short = compute_gex(chain(legs), convention="dealer_short_all").levels.iloc[0]
    assert np.isnan(short.zero_gamma) and short.flip_crossings == 0 and np.isnan(short.call_wall)


def test_two_crossings_take_the_lowest_and_match_a_reference_interpolation():
    legs = [("P", 90, 4000, 0.1), ("C", 100, 2000, 0.1), ("P", 110, 4000, 0.1)]
    res = compute_gex(chain(legs))
    lv = res.levels.iloc[0]
    assert lv.flip_crossings == 2
    spots = np.linspace(80, 120, 60)
    prof = ref_profile(spots, legs)
    np.testing.assert_allclose(res.profile["spot"], spots, rtol=1e-12)
    np.testing.assert_allclose(res.profile["total_gex"], prof, rtol=1e-9, atol=1e-6 * np.abs(prof).max())
    j = int(np.flatnonzero(prof[:-1] * prof[1:] < 0)[0])
    want = spots[j] - prof[j] * (spots[j + 1] - spots[j]) / (prof[j + 1] - prof[j])
    assert lv.zero_gamma == pytest.approx(want, rel=1e-9)
    root = brentq(lambda s: ref_profile(np.array([s]), legs)[0], 90, 100)
    assert lv.zero_gamma == pytest.approx(root, abs=0.3) and lv.zero_gamma < 100


def test_zero_gamma_edge_cases():
    spots = np.array([[1.0, 2.0, 3.0, 4.0]] * 4)
    prof = np.array([[-1.0, 0.0, 0.0, 2.0], [1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0], [-3.0, 1.0, -1.0, 1.0]])
    flip, n = zero_gamma(spots, prof)
    assert flip[0] == 2.0 and n[0] == 1  # zeros between opposite signs: the first zero point
    assert np.isnan(flip[1]) and n[1] == 0  # touching zero is not a sign change
    assert np.isnan(flip[2]) and n[2] == 0  # no exposure at all
    assert flip[3] == pytest.approx(1.75) and n[3] == 3


def test_totals_by_strike_and_expiry_add_up():
    late = dt.date(2024, 3, 15)
    legs = [("C", 95, 100, 0.3), ("P", 95, 300, 0.35), ("C", 105, 700, 0.28), ("P", 105, 50, 0.3),
            ("C", 105, 400, 0.3, late)]
    res = compute_gex(chain(legs))
    lv = res.levels.iloc[0]
    assert res.by_strike["net_gex"].sum() == pytest.approx(lv.total_gex, rel=1e-12)
    assert res.by_expiry["net_gex"].sum() == pytest.approx(lv.total_gex, rel=1e-12)
    assert list(res.by_strike["strike"]) == [95.0, 105.0] and list(res.by_strike["contracts"]) == [2, 3]
    assert list(res.by_strike["call_oi"]) == [100, 1100] and list(res.by_expiry["expiry"].dt.date) == [EXP, late]
    g = bs_greeks(100.0, 105.0, (late - SNAP).days / 365, 0.3).gamma
    assert res.by_expiry["call_gex"].iloc[1] == pytest.approx(float(g) * 400 * 100 * 100**2 * 0.01, rel=1e-12)


def test_unusable_rows_are_quarantined_with_the_reason_and_expired_ones_counted():
    good = [("C", 100, 1000, 0.2), ("P", 95, 800, 0.25)]
    bad = chain([("C", 101, None, 0.2), ("C", 102, 10, None), ("P", 103, 10, 0.0), ("P", 104, -5, 0.2),
                 ("X", 105, 10, 0.2), ("C", 0.0, 10, 0.2), ("C", 100, 999, 0.2, SNAP)])
    mixed = pd.concat([chain(good), bad], ignore_index=True)
    res = compute_gex(mixed)
    clean = compute_gex(chain(good))
    assert res.levels.iloc[0].total_gex == pytest.approx(clean.levels.iloc[0].total_gex, rel=1e-12)
    q = res.quarantine
    assert list(q["row_number"]) == [2, 3, 4, 5, 6, 7]
    assert list(q["field"]) == ["open_interest", "iv", "iv", "open_interest", "right", "strike"]
    assert q["reason"].iloc[0].startswith("no_open_interest") and q["reason"].iloc[1].startswith("no_iv")
    assert set(q["target_table"]) == {"market.gamma_exposure"}
    assert json.loads(q["row_json"].iloc[4])["right"] == "X"
    lv = res.levels.iloc[0]
    assert (lv.contracts_used, lv.contracts_expired, lv.contracts_quarantined) == (2, 1, 6)
    assert res.stats["quarantined_by_rule"]["no_iv:iv"] == 2


def test_a_snapshot_with_nothing_usable_is_a_clear_error():
    with pytest.raises(GexInputError, match=r"2024-01-02.*none of its 2 rows.*no_open_interest"):
        compute_gex(chain([("C", 100, None, 0.2), ("P", 100, None, 0.2)]))
    with pytest.raises(GexInputError, match="no_spot"):
        compute_gex(chain([("C", 100, 10, 0.2)], spot=float("nan")))
    with pytest.raises(GexInputError, match=r"lacks the column\(s\) \['iv'\]"):
        compute_gex(chain([("C", 100, 10, 0.2)]).drop(columns="iv"))
    with pytest.raises(GexInputError, match="dealer_short_calls"):
        compute_gex(chain([("C", 100, 10, 0.2)]), convention="dealer_short_calls")
    with pytest.raises(GexInputError, match="grid_points"):
        compute_gex(chain([("C", 100, 10, 0.2)]), grid_points=1)


def test_an_underlying_without_usable_rows_is_reported_not_silently_dropped():
    both = pd.concat([chain([("C", 100, 10, 0.2)]), chain([("C", 50, None, 0.2)], spot=50, underlying="BBB")])
    res = compute_gex(both)
    assert list(res.levels["underlying"]) == ["AAA"]
    assert res.stats["underlyings_without_usable_rows"] == ["2024-01-02:BBB"]
    assert list(res.quarantine["field"]) == ["open_interest"]


def test_pricing_gamma_helpers_agree_with_bs_greeks():
    rng = np.random.default_rng(3)
    s, k = rng.uniform(50, 150, 500), rng.uniform(50, 150, 500)
    t, v = rng.uniform(0.001, 2, 500), rng.uniform(0.05, 1.5, 500)
    t[:3] = [0.0, -1.0, np.nan]
    v[3] = 0.0
    ref = bs_greeks(s, k, t, v, 0.03, 0.01, True).gamma
    np.testing.assert_allclose(bs_gamma(s, k, t, v, 0.03, 0.01), ref, rtol=1e-12, atol=0)
    spots = np.array([[90.0, 100.0, 110.0], [40.0, 50.0, 60.0]])
    w = rng.normal(size=500)
    out = bs_gamma_profile(spots, [0, 200, 500], k, t, v, w, 0.03, 0.01)
    for g, (lo, hi) in enumerate(((0, 200), (200, 500))):
        for j in range(3):
            r = bs_greeks(spots[g, j], k[lo:hi], t[lo:hi], v[lo:hi], 0.03, 0.01).gamma
            assert out[g, j] == pytest.approx(np.nansum(w[lo:hi] * r), rel=1e-10) or np.isnan(out[g, j])
    with pytest.raises(ValueError, match="offsets"):
        bs_gamma_profile(spots, [0, 500], k, t, v, w)


# ------------------------------------------------------------------------------ context


def levels(rows):
    return pd.DataFrame([{"convention": "dealer_long_calls_short_puts", "spot": 100.0, **r} for r in rows])


def test_context_uses_the_previous_snapshot_only():
    d = np.array([np.datetime64("2024-01-03")] * 4)
    spot = np.array([105.0, 95.0, 100.0, np.nan])
    tk = pd.Series(["AAA", "AAA", "BBB", "AAA"])
    lv = levels([
        {"trade_date": dt.date(2024, 1, 2), "underlying": "AAA", "total_gex": 5e6, "zero_gamma": 100.0,
         "call_wall": 110.0, "put_wall": 90.0, "spot": 102.0},
        {"trade_date": dt.date(2024, 1, 2), "underlying": "BBB", "total_gex": -2e6, "zero_gamma": np.nan,
         "call_wall": np.nan, "put_wall": 95.0},
    ])
    g = gex_context(tk, d, spot, lv)
    assert list(g["gex_regime"]) == ["POSITIVE", "NEGATIVE", "NEGATIVE", "UNKNOWN"]
    assert g["gex_flip_dist"][0] == pytest.approx(100 / 105 - 1) and g["gex_call_wall_dist"][1] == pytest.approx(110 / 95 - 1)
    assert np.isnan(g["gex_flip"][2]) and g["gex_put_wall_dist"][2] == pytest.approx(-0.05)
    assert str(pd.Timestamp(g["gex_date"][0]).date()) == "2024-01-02"
    # an inverted profile (positive below its lowest crossing, as when large OI sits above spot)
    inv = gex_context(tk.iloc[:2], d[:2], spot[:2], lv.iloc[:1].assign(zero_gamma=104.0, spot=98.0))
    assert list(inv["gex_regime"]) == ["NEGATIVE", "POSITIVE"]
    # levels of the event's own session or later never change it (no look-ahead)
    future = pd.concat([lv, levels([
        {"trade_date": dt.date(2024, 1, 3), "underlying": "AAA", "total_gex": -9e9, "zero_gamma": 200.0,
         "call_wall": 1.0, "put_wall": 1.0},
        {"trade_date": dt.date(2024, 1, 4), "underlying": "BBB", "total_gex": 9e9, "zero_gamma": 1.0,
         "call_wall": 1.0, "put_wall": 1.0}])], ignore_index=True)
    g2 = gex_context(tk, d, spot, future)
    for k in g:
        np.testing.assert_array_equal(np.asarray(g[k]), np.asarray(g2[k]), err_msg=k)
    # only a same-day row: nothing known
    same = gex_context(tk, d, spot, future.iloc[2:3])
    assert list(same["gex_regime"]) == ["UNKNOWN"] * 4 and np.isnan(same["gex_total"]).all()


def test_score_batch_context_signals_and_alert_carry_gamma(cfg):
    sc = build_scenario(cfg)
    prev = (DAY - pd.Timedelta(days=1)).date()
    args = (sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"])
    base = score_batch(*args)
    assert set(base.context["gex_regime"]) == {"UNKNOWN"}
    lv = levels([{"trade_date": prev, "underlying": "XYZ", "total_gex": -3e7, "zero_gamma": 150.0,
                  "call_wall": 120.0, "put_wall": 90.0}])
    neg = score_batch(*args, gamma=lv)
    assert set(neg.context["gex_regime"]) == {"NEGATIVE"}  # spot ~100-104, flip 150
    assert len(neg.signals) == len(base.signals) >= 3  # soft checks and tags never gate
    assert neg.signals["strength"].tolist() == base.signals["strength"].tolist()
    assert all("NEG_GAMMA" in t.split(",") for t in neg.signals["tags"])
    assert not any("NEG_GAMMA" in t.split(",") for t in base.signals["tags"])
    scalp = neg.signals[neg.signals["kind"] == "SCALP"].iloc[0]
    assert "negative_gamma" in json.loads(scalp["rules_passed"])
    assert "gex_wall_room>=0.01" in json.loads(scalp["rules_passed"])
    # the same session's (post-close) levels are never used
    same = score_batch(*args, gamma=lv.assign(trade_date=DAY.date()))
    pd.testing.assert_frame_equal(same.context, base.context)
    pd.testing.assert_frame_equal(same.signals, base.signals)
    swing = Signal.from_row(neg.signals[neg.signals["kind"] == "SWING"].iloc[0].to_dict())
    text = format_deep_dive(swing)
    assert "Dealer gamma: NEGATIVE gamma | total -$30M per 1% | flip 150.00 (+" in text
    assert "call wall 120.00" in text and "dealer_long_calls_short_puts" in text
    assert "gex_total:" not in text  # not repeated among the other context keys


def test_a_bullish_order_just_below_the_call_wall_fails_the_room_check(cfg):
    sc = build_scenario(cfg)
    prev = (DAY - pd.Timedelta(days=1)).date()
    res = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"],
                      gamma=levels([{"trade_date": prev, "underlying": "XYZ", "total_gex": 3e7,
                                     "zero_gamma": 50.0, "call_wall": 0.0, "put_wall": 80.0}]))
    spot = res.signals["spot"].to_numpy()
    wall = float(np.max(spot)) * 1.002
    res = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"],
                      gamma=levels([{"trade_date": prev, "underlying": "XYZ", "total_gex": 3e7,
                                     "zero_gamma": 50.0, "call_wall": wall, "put_wall": 80.0}]))
    assert set(res.context["gex_regime"]) == {"POSITIVE"}
    for _, s in res.signals.iterrows():
        assert "gex_wall_room>=0.01" in json.loads(s["rules_failed"])
        assert "NEG_GAMMA" not in s["tags"].split(",")
