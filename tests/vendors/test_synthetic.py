"""The synthetic vendor: determinism, declared columns, internal consistency, realism statistics
and the hidden informed flow."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from primeflow_lib.config import default_config
from primeflow_lib.pricing import bs_price
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.symbols import parse_occ_series
from primeflow_lib.vendors import get_vendor
from primeflow_lib.vendors.base import UnknownTickerError, VendorError
from primeflow_lib.vendors.synthetic import market as sm
from primeflow_lib.vendors.synthetic.options import EXCHANGES, expiries
from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

DAY = dt.date(2025, 6, 13)  # a Friday: weekly and monthly expiries, 0DTE
EARLY_CLOSE = dt.date(2024, 11, 29)  # day after Thanksgiving: closes 13:00
TICKERS = ["SPY", "QQQ", "AAPL", "NVDA", "TSLA", "AMD", "META", "IWM"]


def _fresh(seed: int = 7, **kw) -> SyntheticVendor:
    """A vendor with every process-wide cache emptied, as in a new process."""
    sm._MODELS.clear()
    return SyntheticVendor(seed=seed, **kw)


def _digest(df: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(repr(list(df.columns)).encode())
    h.update(repr([str(t) for t in df.dtypes]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def vendor() -> SyntheticVendor:
    return SyntheticVendor.from_config(default_config())


@pytest.fixture(scope="module")
def day_prints(vendor) -> pd.DataFrame:
    return vendor.option_prints(TICKERS, DAY)


@pytest.fixture(scope="module")
def day_chain(vendor) -> pd.DataFrame:
    return vendor.option_chain(TICKERS, DAY)


def assert_declared(table, df: pd.DataFrame) -> None:
    assert list(df.columns) == table.column_names
    for c in table.columns:
        s = df[c.name]
        if not c.nullable:
            assert not s.isna().any(), c.name
        if c.type == "DATE":
            assert s.dtype == object and {type(x) for x in s.unique()} == {dt.date}, c.name
        elif c.type == "TIMESTAMP":
            assert s.dtype == "datetime64[us]", c.name
        elif c.type == "INTEGER":
            assert s.dtype == np.int32, c.name
        elif c.type == "BIGINT":
            assert s.dtype == np.int64 or (c.nullable and s.dtype == "Int64"), c.name
        elif c.type == "DOUBLE":
            assert s.dtype == np.float64, c.name
        elif c.type == "VARCHAR":
            assert pd.api.types.is_string_dtype(s) and s.dtype != object, c.name
    assert (df["vendor"] == "synthetic").all()


# ----------------------------------------------------------------------------- wiring, errors


def test_registry_builds_it_from_config():
    cfg = default_config()
    v = get_vendor("synthetic", cfg)
    assert isinstance(v, SyntheticVendor)
    assert (v.seed, v.prints_per_ticker_day, v.pool_size) == (7, 1200, 600)
    for kind in ("universe", "bars", "chain", "prints"):
        v.check_ready(kind)
    assert len(v.tickers) == 600 and v.tickers[:3] == ("SPY", "QQQ", "IWM")
    assert len(set(v.tickers)) == 600
    assert all(re.fullmatch(r"[A-Z]{1,5}", t) for t in v.tickers)


def test_unknown_ticker_and_bad_dates_raise_clear_errors(vendor):
    with pytest.raises(UnknownTickerError, match="ZZZZZZ"):
        vendor.daily_bars(["SPY", "ZZZZZZ"], DAY, DAY)
    with pytest.raises(UnknownTickerError, match="NOPE"):
        vendor.option_prints(["NOPE"], DAY)
    with pytest.raises(VendorError, match="2024-12-25"):
        vendor.option_chain(["SPY"], dt.date(2024, 12, 25))
    with pytest.raises(VendorError, match="2025-06-14"):
        vendor.option_prints(["SPY"], dt.date(2025, 6, 14))
    with pytest.raises(VendorError, match="2025-06-15"):
        vendor.top_volume_tickers(dt.date(2025, 6, 15), 10)
    with pytest.raises(VendorError, match="2010-01-04"):
        vendor.daily_bars(["SPY"], dt.date(2009, 1, 1), dt.date(2009, 12, 31))
    with pytest.raises(VendorError, match="before its start"):
        vendor.daily_bars(["SPY"], DAY, DAY - dt.timedelta(days=3))
    # a range holding no session is not an error: an empty frame with the declared columns
    empty = vendor.intraday_bars(["SPY"], dt.date(2025, 6, 14), dt.date(2025, 6, 15))
    assert empty.empty and list(empty.columns) == OHLCV_INTRADAY.column_names


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_regardless_of_request_order():
    d1, d2 = dt.date(2024, 3, 14), DAY
    a = _fresh()
    first = {
        "prints1": a.option_prints(["AAPL", "SPY"], d1),
        "prints2": a.option_prints(["TSLA"], d2),
        "chain": a.option_chain(["TSLA"], d2),
        "bars": a.intraday_bars(["SPY"], d1, d1),
        "daily": a.daily_bars(["AAPL", "NVDA"], dt.date(2011, 1, 3), dt.date(2011, 2, 1)),
    }
    b = _fresh()  # other order; the later year first (the daily horizon grows the other way)
    second = {
        "chain": b.option_chain(["TSLA"], d2),
        "prints2": b.option_prints(["TSLA"], d2),
        "bars": b.intraday_bars(["SPY"], d1, d1),
        "prints1": b.option_prints(["SPY", "AAPL"], d1),
        "daily": b.daily_bars(["NVDA", "AAPL"], dt.date(2011, 1, 3), dt.date(2011, 2, 1)),
    }
    for key, df in first.items():
        assert len(df) > 0
        assert _digest(df) == _digest(second[key]), key
    # a ticker's data does not depend on which other tickers were asked for
    alone = b.option_prints(["SPY"], d1)
    both = first["prints1"]
    pd.testing.assert_frame_equal(alone, both[both["underlying"] == "SPY"].reset_index(drop=True))


def test_history_does_not_depend_on_how_far_paths_were_generated():
    # daily paths are generated to the end of the latest year asked for; the last session of a
    # year must not change when a later year is requested afterwards
    last = dt.date(2023, 12, 29)
    a = _fresh()
    ev_a = a.informed_flow_events(None, last, last)  # horizon: end of 2023
    bars_a = a.daily_bars(a.tickers[:120], dt.date(2023, 12, 20), last)
    b = _fresh()
    b.daily_bars(["SPY"], DAY, DAY)  # horizon: end of 2025 first
    ev_b = b.informed_flow_events(None, last, last)
    bars_b = b.daily_bars(b.tickers[:120], dt.date(2023, 12, 20), last)
    assert (ev_a["kind"] == "multiday").any()  # the case that matters is present
    pd.testing.assert_frame_equal(ev_a, ev_b)
    assert _digest(bars_a) == _digest(bars_b)


def test_different_seed_gives_different_data():
    a = _fresh(seed=7).daily_bars(["SPY"], dt.date(2024, 1, 2), dt.date(2024, 1, 31))
    b = _fresh(seed=8).daily_bars(["SPY"], dt.date(2024, 1, 2), dt.date(2024, 1, 31))
    assert len(a) == len(b) == 21
    assert not np.allclose(a["close"], b["close"])
    pa = _fresh(seed=7).option_prints(["SPY"], DAY)
    pb = _fresh(seed=8).option_prints(["SPY"], DAY)
    assert _digest(pa) != _digest(pb)


# ----------------------------------------------------------------------------- declared columns


def test_frames_have_exactly_the_declared_columns_and_dtypes(vendor, day_prints, day_chain):
    assert_declared(UNIVERSE, vendor.top_volume_tickers(DAY, 25, 20))
    assert_declared(OHLCV_DAILY, vendor.daily_bars(TICKERS, dt.date(2025, 5, 1), DAY))
    assert_declared(OHLCV_INTRADAY, vendor.intraday_bars(TICKERS[:2], DAY, DAY))
    assert_declared(OPTION_CHAIN, day_chain)
    assert_declared(OPTION_PRINTS, day_prints)


# ----------------------------------------------------------------------------- bars


def test_daily_bars_are_consistent_over_the_whole_history(vendor):
    df = vendor.daily_bars(
        ["SPY", "TSLA", "GME", vendor.tickers[200]], dt.date(2010, 1, 4), dt.date(2025, 12, 31)
    )
    assert df.groupby("ticker").size().nunique() == 1  # every session for every ticker
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (lo > 0).all() and (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all()
    assert (v >= 1000).all() and np.array_equal(v, np.round(v))
    for arr in (o, h, lo, c):
        assert np.array_equal(arr, np.round(arr, 2))
    spy = df[df["ticker"] == "SPY"]["close"].to_numpy()
    r = np.diff(np.log(spy))
    assert 0.08 < r.std() * np.sqrt(252) < 0.35  # index-like volatility
    # volatility clusters: |returns| are autocorrelated
    assert np.corrcoef(np.abs(r[1:]), np.abs(r[:-1]))[0, 1] > 0.1
    # overnight gaps exist: opens differ from the previous close
    gaps = df[df["ticker"] == "TSLA"]
    assert (gaps["open"].to_numpy()[1:] != gaps["close"].to_numpy()[:-1]).mean() > 0.9


@pytest.mark.parametrize("day", [DAY, EARLY_CLOSE, dt.date(2010, 1, 4)])
def test_intraday_bars_rebuild_the_daily_bar(vendor, day):
    tickers = ["SPY", "NVDA", "GME"]
    daily = vendor.daily_bars(tickers, day, day).set_index("ticker")
    bars = vendor.intraday_bars(tickers, day, day)
    close_hhmm = (13, 0) if day == EARLY_CLOSE else (16, 0)
    n_min = (close_hhmm[0] * 60 + close_hhmm[1]) - (9 * 60 + 30)
    for t, g in bars.groupby("ticker"):
        assert len(g) == n_min
        assert g["ts"].is_monotonic_increasing and g["ts"].is_unique
        assert g["ts"].iloc[0] == pd.Timestamp(day) + pd.Timedelta(hours=9, minutes=30)
        assert g["ts"].iloc[-1] == pd.Timestamp(day) + pd.Timedelta(
            hours=close_hhmm[0], minutes=close_hhmm[1] - 1
        )
        d = daily.loc[t]
        assert g["open"].iloc[0] == d["open"]
        assert g["close"].iloc[-1] == d["close"]
        assert g["high"].max() == d["high"]
        assert g["low"].min() == d["low"]
        assert g["volume"].sum() == d["volume"]
        assert (g["high"] >= g[["open", "close"]].max(axis=1)).all()
        assert (g["low"] <= g[["open", "close"]].min(axis=1)).all()
        assert g["vwap"].between(g["low"], g["high"]).all()
        assert (g["volume"] >= 0).all()


def test_intraday_volume_is_u_shaped(vendor):
    bars = vendor.intraday_bars(TICKERS, DAY - dt.timedelta(days=3), DAY)
    minute = (bars["ts"] - bars["ts"].dt.normalize()).dt.total_seconds() / 60 - 570
    share = bars.groupby(minute // 30)["volume"].sum() / bars["volume"].sum()
    midday = share.loc[5:7].mean()  # 12:00-13:30
    assert share.loc[0] > 2 * midday and share.loc[12] > 1.5 * midday


# ----------------------------------------------------------------------------- universe


def test_universe_ranks_by_mean_volume_before_the_day(vendor):
    u = vendor.top_volume_tickers(DAY, 50, lookback=20)
    assert list(u["rank"]) == list(range(1, 51))
    assert u["avg_volume"].is_monotonic_decreasing
    top = list(u["ticker"][:3]) + [u["ticker"].iloc[-1]]
    prev = vendor.daily_bars(top, dt.date(2025, 4, 1), DAY - dt.timedelta(days=1))
    prev = prev[prev["trade_date"] < DAY]
    for t in top:
        g = prev[prev["ticker"] == t].tail(20)
        row = u[u["ticker"] == t].iloc[0]
        assert row["avg_volume"] == pytest.approx(g["volume"].mean(), rel=1e-12)
        assert row["last_close"] == g["close"].iloc[-1]
    # heavy-tailed: the leader trades far more than number 50
    assert u["avg_volume"].iloc[0] > 10 * u["avg_volume"].iloc[-1]
    # the universe is stable but not frozen from day to day
    u2 = vendor.top_volume_tickers(dt.date(2025, 5, 13), 50, lookback=20)
    overlap = len(set(u["ticker"]) & set(u2["ticker"]))
    assert 30 <= overlap <= 50


# ----------------------------------------------------------------------------- chain


def test_chain_contracts_expiries_and_greeks(vendor, day_chain):
    ch = day_chain
    parsed = parse_occ_series(ch["option_symbol"])
    assert parsed["error"].isna().all()
    assert (parsed["underlying"].to_numpy() == ch["underlying"].to_numpy()).all()
    assert (parsed["expiry"].to_numpy() == ch["expiry"].to_numpy()).all()
    assert (parsed["right"].to_numpy() == ch["right"].to_numpy()).all()
    assert np.allclose(parsed["strike"].to_numpy(dtype=float), ch["strike"].to_numpy())
    assert ch["option_symbol"].is_unique
    daily = vendor.daily_bars(TICKERS, DAY, DAY).set_index("ticker")["close"]
    assert (ch["underlying_price"].to_numpy() == daily.loc[ch["underlying"]].to_numpy()).all()
    assert (ch["bid"] <= ch["ask"]).all() and (ch["bid"] >= 0).all()
    calls = ch["right"] == "C"
    assert (
        ch.loc[calls, "delta"].between(0, 1).all() and ch.loc[~calls, "delta"].between(-1, 0).all()
    )
    assert (ch["open_interest"] >= 0).all()
    # expiries on a Friday: today (0DTE), 3 more weeklies, monthlies, a far quarterly and LEAPS
    exps = sorted(ch.loc[ch["underlying"] == "SPY", "expiry"].unique())
    assert exps[0] == DAY and dt.date(2025, 6, 20) in exps and dt.date(2025, 7, 3) in exps
    assert dt.date(2025, 7, 18) in exps and dt.date(2025, 8, 15) in exps
    assert max(exps) >= DAY + dt.timedelta(days=300)
    # closing quote brackets the Black-Scholes value at the chain's own IV
    sub = ch[(ch["underlying"] == "AAPL") & (ch["expiry"] == dt.date(2025, 7, 18))]
    years = (
        (pd.Timestamp("2025-07-18 16:00") - pd.Timestamp("2025-06-13 16:00")).total_seconds()
    ) / (365 * 86400)
    q = sm.WELL_KNOWN[[r[0] for r in sm.WELL_KNOWN].index("AAPL")][6]
    theo = bs_price(
        sub["underlying_price"],
        sub["strike"],
        years,
        sub["iv"],
        sm.risk_free_rate(DAY),
        q,
        sub["right"],
    )
    assert ((theo >= sub["bid"] - 1e-9) & (theo <= sub["ask"] + 1e-9)).all()


def test_expiry_calendar_handles_holidays():
    # Good Friday 2024-03-29 is an NYSE holiday: that week's options expire Thursday 03-28
    exps = dict(expiries(dt.date(2024, 3, 25)))
    assert dt.date(2024, 3, 28) in exps and dt.date(2024, 3, 29) not in exps
    # Juneteenth 2026 is a Friday (June 19 and the monthly third Friday): Thursday expiry
    exps = dict(expiries(dt.date(2026, 6, 15)))
    assert exps.get(dt.date(2026, 6, 18)) == 1
    # the third Friday is flagged monthly; weeklies are the other Fridays
    exps = dict(expiries(DAY))
    assert exps[dt.date(2025, 6, 20)] == 1 and exps[DAY] == 0


def test_chain_iv_smile_and_open_interest_shape(day_chain):
    ch = day_chain
    for t in ("SPY", "AAPL", "NVDA"):
        sub = ch[(ch["underlying"] == t) & (ch["expiry"] == dt.date(2025, 7, 18))]
        spot = sub["underlying_price"].iloc[0]
        atm = sub.iloc[(sub["strike"] - spot).abs().argsort().iloc[:2]]["iv"].mean()
        otm_put = sub[(sub["right"] == "P") & (sub["strike"] < 0.92 * spot)]["iv"]
        otm_call = sub[(sub["right"] == "C") & (sub["strike"] > 1.08 * spot)]["iv"]
        assert len(otm_put) and otm_put.min() > atm  # put skew
        if len(otm_call):
            assert otm_put.mean() > otm_call.mean()
    spy = ch[ch["underlying"] == "SPY"]
    mny = (np.log(spy["strike"] / spy["underlying_price"])).abs()
    month = spy["expiry"] == dt.date(2025, 7, 18)
    near, far = spy[month & (mny < 0.02)], spy[month & (mny > 0.07)]
    assert len(far) and near["open_interest"].mean() > 2 * far["open_interest"].mean()
    monthly = spy[(spy["expiry"] == dt.date(2025, 7, 18)) & (mny < 0.03)]["open_interest"].mean()
    weekly = spy[(spy["expiry"] == dt.date(2025, 7, 3)) & (mny < 0.03)]["open_interest"].mean()
    assert monthly > weekly


# ----------------------------------------------------------------------------- prints


def test_prints_trade_the_chain_and_add_up_to_its_volume(day_prints, day_chain):
    p, ch = day_prints, day_chain
    assert set(p["option_symbol"]) <= set(ch["option_symbol"])
    signed = np.where(p["correction"] == 1, -p["size"], p["size"])
    vol = pd.Series(signed, index=p["option_symbol"]).groupby(level=0).sum()
    chain_vol = ch.set_index("option_symbol")["volume"]
    assert np.array_equal(
        chain_vol.loc[vol.index].to_numpy(), vol.clip(lower=0).to_numpy(dtype=float)
    )
    assert (chain_vol.drop(vol.index) == 0).all()


def test_print_fields_ids_timestamps_and_sequence(day_prints):
    p = day_prints
    assert p["print_id"].is_unique and p["print_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    # sip_ts is sip_timestamp as New York wall time (microseconds)
    ny = pd.to_datetime(p["sip_timestamp"], unit="ns", utc=True).dt.tz_convert("America/New_York")
    assert (ny.dt.tz_localize(None).dt.floor("us") == p["sip_ts"]).all()
    assert (p["sip_ts"] >= pd.Timestamp(DAY) + pd.Timedelta(hours=9, minutes=30)).all()
    assert (p["sip_ts"] < pd.Timestamp(DAY) + pd.Timedelta(hours=16)).all()
    assert (p["price"] > 0).all() and (p["size"] > 0).all() and (p["bid"] <= p["ask"]).all()
    assert set(p["exchange"].unique()) <= set(EXCHANGES) and p["exchange"].min() > 300
    allowed = {"201", "203", "204", "209", "219", "247"} | {str(c) for c in range(227, 246)}
    assert set(p["conditions"].unique()) <= allowed
    # seq: 0..n-1 per contract in row (= received) order
    seq_expected = p.groupby("option_symbol").cumcount()
    assert (p["seq"] == seq_expected).all()


def test_cancels_and_late_prints(day_prints):
    p = day_prints
    cancels = p[p["conditions"].isin(["201", "203"])]
    assert len(cancels) > 0 and (cancels["correction"] == 1).all()
    assert (p.loc[~p["conditions"].isin(["201", "203"]), "correction"] == 0).all()
    key = ["option_symbol", "price", "size", "exchange"]
    regular = p[p["correction"] == 0]
    merged = cancels.merge(regular, on=key, suffixes=("", "_orig"))
    mirrored = merged[merged["sip_timestamp_orig"] < merged["sip_timestamp"]]
    assert mirrored["print_id"].nunique() == len(cancels)  # every cancel mirrors an earlier print
    late = p[p["conditions"] == "204"]
    assert len(late) > 0
    # a late report arrives after prints that traded later: timestamps out of order in receipt order
    out_of_order = 0
    for _, g in p.groupby("underlying", sort=False):
        ts = g["sip_timestamp"].to_numpy()
        running_max = np.maximum.accumulate(ts)
        is_late = (g["conditions"] == "204").to_numpy()
        out_of_order += int((ts[is_late] < running_max[is_late]).sum())
    assert out_of_order >= 0.8 * len(late)


def test_sweeps_multileg_and_blocks_look_like_the_real_thing(day_prints):
    p = day_prints
    sw = p[p["conditions"] == "219"].sort_values(["option_symbol", "sip_timestamp"])
    gap = sw.groupby("option_symbol")["sip_timestamp"].diff()
    sweep_id = (gap.isna() | (gap > 5_000_000)).cumsum()  # legs within 5 ms belong together
    groups = sw.groupby(sweep_id)
    n_legs = groups.size()
    assert n_legs.between(2, 8).mean() > 0.95
    assert (groups["exchange"].nunique() == n_legs).mean() > 0.95  # one leg per exchange
    span = groups["sip_timestamp"].agg(lambda s: s.max() - s.min())
    assert (span < 15_000_000).all()  # within a few ms
    aggressive = (sw["price"] >= sw["ask"]) | (sw["price"] <= sw["bid"])
    assert aggressive.mean() > 0.97
    ml = p[p["conditions"].isin([str(c) for c in (232, 233, 234, 235, 236, 238, 239)])]
    pairs = ml.groupby(["underlying", "sip_timestamp"])["option_symbol"].nunique()
    assert (pairs == 2).mean() > 0.95  # two different contracts printed at once
    blocks = p[p["conditions"].isin(["227", "228", "229", "230", "231"])]
    assert blocks["size"].median() > 20 * p.loc[p["conditions"] == "209", "size"].median()
    assert (p["conditions"] == "247").any() and p["conditions"].isin(
        ["237", "240", "241", "242"]
    ).any()


def test_print_realism_statistics(vendor, day_prints):
    p = day_prints
    # sweeps: about a seventh of prints
    share = (p["conditions"] == "219").mean()
    assert 0.06 < share < 0.30
    # premium is heavy-tailed: the top 1 % of prints carry a large share of it
    prem = np.sort((p["price"] * p["size"] * 100).to_numpy())[::-1]
    top = prem[: max(1, len(prem) // 100)].sum() / prem.sum()
    assert top > 0.30
    # U-shaped intensity through the day
    minute = (p["sip_ts"] - pd.Timestamp(DAY)).dt.total_seconds() / 60 - 570
    first, mid, last = (
        (minute < 30).sum(),
        minute.between(165, 195, inclusive="left").sum(),
        (minute >= 360).sum(),
    )
    assert first > 2 * mid and last > 1.5 * mid
    # near-dated, near-the-money concentration
    parsed = parse_occ_series(p["option_symbol"])
    dte = np.array([(e - DAY).days for e in parsed["expiry"]])
    assert (dte <= 14).mean() > 0.6
    # print counts follow volume rank: the busiest names print far more
    counts = p.groupby("underlying").size()
    assert counts["SPY"] > 3 * counts["IWM"] or counts["NVDA"] > 3 * counts["IWM"]
    # price and NBBO follow the Black-Scholes value: most prints at or inside the quote
    inside = (p["price"] >= p["bid"] - 0.05) & (p["price"] <= p["ask"] + 0.05)
    assert inside.mean() > 0.97


def test_prints_per_ticker_day_scales_the_feed():
    a = _fresh(prints_per_ticker_day=300).option_prints(["AAPL", "AMD"], DAY)
    b = _fresh(prints_per_ticker_day=1200).option_prints(["AAPL", "AMD"], DAY)
    assert 2.5 < len(b) / len(a) < 6


# ----------------------------------------------------------------------------- informed flow


def test_informed_flow_precedes_moves_in_its_direction(vendor):
    start, end = dt.date(2024, 1, 2), dt.date(2024, 6, 28)
    ev = vendor.informed_flow_events(TICKERS, start, end)
    assert set(ev["kind"]) == {"intraday", "multiday"}
    assert list(ev.columns[:6]) == [
        "trade_date",
        "ticker",
        "kind",
        "direction",
        "right",
        "magnitude",
    ]
    intraday = ev[ev["kind"] == "intraday"].head(25)
    hits = []
    for r in intraday.itertuples():
        bars = vendor.intraday_bars([r.ticker], r.trade_date, r.trade_date).set_index("ts")["close"]
        before, after = bars.asof(r.flow_end), bars.asof(r.move_end)
        hits.append(np.sign(np.log(after / before)) == r.direction)
        assert r.flow_end < r.move_start and pd.Timedelta(minutes=15) <= r.move_start - r.flow_end
    assert np.mean(hits) > 0.75
    multi = ev[ev["kind"] == "multiday"]
    daily = vendor.daily_bars(TICKERS, start, dt.date(2024, 7, 31)).set_index(
        ["ticker", "trade_date"]
    )["close"]
    later = [
        daily.loc[(r.ticker, r.move_end.date())] / daily.loc[(r.ticker, r.trade_date)]
        for r in multi.itertuples()
    ]
    assert np.mean(np.sign(np.log(later)) == multi["direction"].to_numpy()) > 0.75
    # and the flow is there: aggressive sweeps on the event's side inside the flow window
    r = intraday.iloc[0]
    p = vendor.option_prints([r["ticker"]], r["trade_date"])
    w = p[
        (p["sip_ts"] >= r["flow_start"])
        & (p["sip_ts"] <= r["flow_end"])
        & (p["conditions"] == "219")
    ]
    side = parse_occ_series(w["option_symbol"])["right"] == r["right"]
    at_ask = (w["price"] >= w["ask"]).to_numpy()
    assert (side.to_numpy() & at_ask).sum() >= 5


def test_no_leakage_columns_and_regimes_helper(vendor, day_prints):
    assert list(day_prints.columns) == OPTION_PRINTS.column_names
    reg = vendor.market_regimes(dt.date(2010, 1, 4), dt.date(2025, 12, 31))
    assert set(reg["regime"]) == {"bull", "bear", "range", "high_vol"}
    vol = reg.groupby("regime")["market_vol"].mean()
    assert vol["high_vol"] > vol["bear"] > vol["bull"]
