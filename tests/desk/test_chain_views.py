"""Views from the chain snapshots: ATM IV, term structure and 25-delta skew, IV rank and
percentile with the sessions they used, day-over-day OI change (a missing snapshot named), max
pain, and exposure beyond gamma (vanna and charm checked against finite differences of delta;
GEX equal to market.gamma_exposure; 0DTE apart)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from primeflow_lib.flow.exposure import bs_charm, bs_vanna, compute_exposure
from primeflow_lib.flow.gex import compute_gex
from primeflow_lib.flow.open_interest import missing_prev_summary, missing_snapshots, oi_change
from primeflow_lib.flow.volatility import (
    VolatilityInputError,
    history_warning,
    iv_daily,
    iv_rank,
    iv_term,
)
from primeflow_lib.pricing import bs_greeks, bs_price

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2024, 12, 31)


def chain(day=DAY, spot=100.0, expiries=(7, 21, 42), iv=lambda k, t: 0.2, oi=lambda k, r: 1000, und="XYZ"):
    """Calls and puts on strikes 70..130 priced from ``iv(strike, years)``."""
    recs = []
    for d in expiries:
        exp = day + dt.timedelta(days=d)
        for k in range(70, 131, 5):
            for r in "CP":
                recs.append({"trade_date": day, "underlying": und, "option_symbol": f"{und}{exp:%y%m%d}{r}{k * 1000:08d}",
                             "expiry": exp, "right": r, "strike": float(k), "iv": iv(k, d / 365), "open_interest": oi(k, r),
                             "underlying_price": spot, "vendor": "synthetic"})
    return pd.DataFrame(recs)


def test_flat_iv_gives_that_iv_and_no_skew():
    term, counts = iv_term(chain())
    assert counts["expiries"] == 3 and np.allclose(term["atm_iv"], 0.2)
    assert np.allclose(term["skew_25d"].astype(float), 0.0, atol=1e-12)


def test_put_skew_and_interpolation_at_spot_and_25_delta():
    skewed = chain(spot=101.0, iv=lambda k, t: 0.2 + 0.004 * (100 - k))  # lower strikes richer
    term, _ = iv_term(skewed)
    row = term.iloc[0]
    assert row["atm_iv"] == pytest.approx(0.2 - 0.004)  # linear in strike between 100 and 105
    assert row["skew_25d"] > 0 and row["iv_25d_put"] > row["atm_iv"] > row["iv_25d_call"]
    # the 25-delta call's IV sits at the strike whose delta (from its own IV) is 0.25
    c = skewed[(skewed["right"] == "C") & (skewed["expiry"] == row["expiry"])]
    deltas = bs_greeks(101.0, c["strike"].to_numpy(), 7 / 365, c["iv"].to_numpy(), 0.0, 0.0, True).delta
    order = np.argsort(deltas)
    assert row["iv_25d_call"] == pytest.approx(np.interp(0.25, deltas[order], c["iv"].to_numpy()[order]))


def test_30_day_iv_interpolates_total_variance_between_expiries():
    term, _ = iv_term(chain(iv=lambda k, t: 0.2 if t < 15 / 365 else 0.3))
    d = iv_daily(term, target_days=30).iloc[0]
    w21, w42 = 0.3 ** 2 * 21, 0.3 ** 2 * 42
    w = w21 + (w42 - w21) * (30 - 21) / (42 - 21)
    assert d["atm_iv_30d"] == pytest.approx(np.sqrt(w / 30)) and d["front_iv"] == pytest.approx(0.2)


def test_iv_rank_says_how_many_sessions_it_had():
    days = pd.bdate_range("2024-01-01", periods=30).date
    daily = pd.DataFrame({"trade_date": days, "underlying": "XYZ", "atm_iv_30d": np.linspace(0.1, 0.4, 30),
                          "skew_25d_30d": 0.01, "front_iv": 0.2, "term_slope": 0.0, "vendor": "synthetic"})
    daily.loc[29, "atm_iv_30d"] = 0.25  # mid-range on the last day
    st = iv_rank(daily, lookback=252)
    last = st.iloc[-1]
    assert (last["sessions_used"], last["lookback_sessions"], bool(last["short_history"])) == (30, 252, True)
    assert last["iv_rank"] == pytest.approx((0.25 - 0.1) / (np.linspace(0.1, 0.4, 30)[28] - 0.1))
    assert last["iv_percentile"] == pytest.approx(15 / 29)  # 15 of the 29 earlier days were lower
    assert "IV rank over fewer sessions than the 252 asked: XYZ (30)" in history_warning(st)
    full = iv_rank(daily, lookback=10).iloc[-1]
    assert full["sessions_used"] == 10 and not full["short_history"] and history_warning(iv_rank(daily, 10)) is None
    with pytest.raises(VolatilityInputError, match="lookback_sessions must be a whole number >= 2, got 1"):
        iv_rank(daily, lookback=1)


def _store(chains: list[pd.DataFrame]) -> duckdb.DuckDBPyConnection:
    from primeflow_lib import warehouse

    con = duckdb.connect()
    warehouse.ensure_tables(con)
    cols = warehouse.table("market.option_chain").column_names
    for c in chains:
        warehouse.append_rows(con, "market.option_chain", c.reindex(columns=cols))
    return con


def test_oi_change_statuses_and_a_missing_snapshot_is_named():
    d0, d1, d3 = dt.date(2024, 12, 27), dt.date(2024, 12, 30), dt.date(2025, 1, 2)
    c0 = chain(day=d0, expiries=(21,), oi=lambda k, r: 1000)
    c1 = chain(day=d1, expiries=(18,), oi=lambda k, r: 1000 + (50 if r == "C" else -20))
    c1 = c1[c1["strike"] != 130.0]
    extra = chain(day=d1, expiries=(18,)).query("strike == 130.0").assign(option_symbol="NEW1", strike=131.0)
    c3 = chain(day=d3, expiries=(14,), oi=lambda k, r: 5)  # 2024-12-31 has no snapshot
    con = _store([c0, pd.concat([c1, extra]), c3])
    df = oi_change(con)
    for c in ("trade_date", "prev_date"):
        df[c] = pd.to_datetime(df[c]).dt.date
    on1 = df[df["trade_date"] == d1]
    ok = on1[on1["status"] == "ok"]
    assert set(ok.loc[ok["right"] == "C", "oi_change"]) == {50} and set(ok.loc[ok["right"] == "P", "oi_change"]) == {-20}
    assert on1.loc[on1["option_symbol"] == "NEW1", ["status", "oi_change"]].iloc[0].tolist() == ["new_contract", 1000]
    on3 = df[df["trade_date"] == d3]
    assert set(on3["status"]) == {"missing_prev_snapshot"} and on3["oi_change"].isna().all()
    assert set(on3["prev_date"]) == {dt.date(2024, 12, 31)}
    assert any("2025-01-02: the previous session 2024-12-31 has no chain snapshot for 1 underlying(s) (XYZ)" in line
               for line in missing_prev_summary(df))
    assert missing_snapshots([d0, d1, d3]) == [dt.date(2024, 12, 31)]


def test_max_pain_matches_a_brute_force_search():
    rng = np.random.default_rng(3)
    c = chain(expiries=(7, 30), oi=lambda k, r: int(rng.integers(0, 5000)))
    con = _store([c])
    body = "\n".join(ln for ln in (ROOT / "dbt_like_sql" / "max_pain.sql").read_text().splitlines()
                     if not ln.startswith("--"))
    got = con.execute(f"SELECT * FROM ({body})").df()
    got["expiry"] = pd.to_datetime(got["expiry"]).dt.date
    for exp, g in c.groupby("expiry"):
        ks = sorted(g["strike"].unique())
        pay = []
        for s in ks:
            calls = g[g["right"] == "C"]
            puts = g[g["right"] == "P"]
            pay.append(100 * (np.maximum(s - calls["strike"], 0) * calls["open_interest"]).sum()
                       + 100 * (np.maximum(puts["strike"] - s, 0) * puts["open_interest"]).sum())
        best = ks[int(np.argmin(pay))]
        row = got[got["expiry"] == exp].iloc[0]
        assert row["max_pain"] == best and row["payout_usd"] == pytest.approx(min(pay))


def test_vanna_and_charm_are_the_derivatives_of_delta():
    s, k, t, v, r = 100.0, np.array([90.0, 100.0, 110.0]), 30 / 365, 0.25, 0.03
    dv = 1e-5
    d_up = bs_greeks(s, k, t, v + dv, r, 0.0, True).delta
    d_dn = bs_greeks(s, k, t, v - dv, r, 0.0, True).delta
    assert np.allclose(bs_vanna(s, k, t, v, r), (d_up - d_dn) / (2 * dv), rtol=1e-5)
    day = 1 / 365
    step = bs_greeks(s, k, t - day, v, r, 0.0, True).delta - bs_greeks(s, k, t, v, r, 0.0, True).delta
    assert np.allclose(bs_charm(s, k, t, v, r), step, rtol=0.05)  # per calendar day passing
    puts = bs_greeks(s, k, t - day, v, r, 0.0, False).delta - bs_greeks(s, k, t, v, r, 0.0, False).delta
    assert np.allclose(bs_charm(s, k, t, v, r), puts, rtol=0.05)
    assert np.isnan(bs_vanna(s, k, 0.0, v)).all() and bs_price(1, 1, 1, 0.2) > 0


def test_exposure_units_convention_and_0dte():
    c = chain(day=dt.date(2024, 12, 30), expiries=(1, 18))  # 2024-12-31 is the next session: 0DTE
    ex, counts = compute_exposure(c, convention="dealer_long_calls_short_puts", rate=0.0)
    gex = compute_gex(c, convention="dealer_long_calls_short_puts").levels
    assert ex["gex"].sum() == pytest.approx(gex["total_gex"].iloc[0])
    assert set(ex.loc[ex["expiry"] == dt.date(2024, 12, 31), "zero_dte"]) == {True}
    assert set(ex.loc[ex["expiry"] != dt.date(2024, 12, 31), "zero_dte"]) == {False}
    one = c[(c["strike"] == 100.0) & (c["expiry"] == dt.date(2025, 1, 17)) & (c["right"] == "C")]
    solo, _ = compute_exposure(one, convention="dealer_long_calls_short_puts")
    delta = bs_greeks(100.0, 100.0, 18 / 365, 0.2, 0.0, 0.0, True).delta
    assert solo["dex"].iloc[0] == pytest.approx(float(delta) * 1000 * 100 * 100.0)
    short, _ = compute_exposure(one, convention="dealer_short_all")
    assert short["dex"].iloc[0] == pytest.approx(-solo["dex"].iloc[0])
    assert counts["contracts_used"] == len(c)
