"""The l2_* fields of flow.flow_context: as-of the last L2 minute closed at or before the
event (never later), 'none' and nulls without L2 data, and signals unchanged without it."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, build_scenario

from primeflow_lib import warehouse
from primeflow_lib.flow.context import build_context
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.inputs import read_l2_features
from primeflow_lib.flow.l2_context import L2_CONTEXT_COLUMNS, NO_L2
from primeflow_lib.schema.market import L2_FEATURES


def l2_rows(ticker="XYZ", start="10:00", n=6, day=DAY, ofi=None) -> pd.DataFrame:
    """``n`` market.l2_features minutes of ``ticker`` from ``start``; ofi = 10 * (i + 1) unless given."""
    ts = pd.date_range(f"{day.date()} {start}", periods=n, freq="1min")
    ofi = np.arange(1, n + 1) * 10.0 if ofi is None else np.asarray(ofi, dtype=float)
    df = pd.DataFrame({
        "trade_date": day.date(), "ts": ts, "ticker": ticker, "ofi": ofi, "book_events": 5, "messages": 7,
        "bid": 100.0, "ask": 100.0 + 0.01 * np.arange(1, n + 1), "bid_size": 3, "ask_size": 4,
        "spread": 0.01 * np.arange(1, n + 1), "mid": 100.0, "bid_depth": 30, "ask_depth": 10,
        "depth_imbalance": np.linspace(-0.5, 0.5, n), "depth_levels": 5, "synced": True, "book_issues": 0,
        "schema": "mbo", "dataset": "XNAS.ITCH", "vendor": "dbn", "source": "test",
    })
    return df[L2_FEATURES.column_names]


def events(times, tickers=None) -> pd.DataFrame:
    return pd.DataFrame({
        "trade_date": [DAY] * len(times),
        "event_id": [f"e{i}" for i in range(len(times))],
        "ticker": tickers or ["XYZ"] * len(times),
        "last_ts": [pd.Timestamp(f"{DAY.date()} {t}") for t in times],
    })


def test_the_minute_used_is_the_last_one_closed_at_or_before_the_event(cfg):
    l2 = l2_rows()  # minutes 10:00 .. 10:05, ofi 10 .. 60
    ev = events(["10:03:00", "10:02:59.999", "10:00:30", "10:09:00", "10:12:00", "10:04:00"],
                ["XYZ", "XYZ", "XYZ", "XYZ", "XYZ", "ABC"])
    c = build_context(ev, None, None, cfg, None, l2)
    # 10:03:00: the 10:02 minute closed exactly then; 10:02:59.999: the 10:02 minute is still open
    assert c["l2_asof"].iloc[0] == pd.Timestamp(f"{DAY.date()} 10:03")
    assert c["l2_ofi_1m"].iloc[0] == 30.0 and c["l2_ofi_1m"].iloc[1] == 20.0
    assert c["l2_spread"].iloc[0] == pytest.approx(0.03)
    assert c["l2_depth_imbalance"].iloc[0] == pytest.approx(l2["depth_imbalance"].iloc[2])
    assert c["l2_source"].iloc[0] == "dbn mbo XNAS.ITCH"
    # 10:09: the last minute (10:05) closed 3 min before, within l2.max_age_minutes (5)
    assert c["l2_ofi_1m"].iloc[3] == 60.0
    # no closed minute yet / last one too old / another ticker: nulls and 'none'
    for i in (2, 4, 5):
        assert c["l2_source"].iloc[i] == NO_L2 and pd.isna(c["l2_asof"].iloc[i])
        assert np.isnan(c[["l2_ofi_1m", "l2_depth_imbalance", "l2_spread"]].iloc[i].to_numpy(float)).all()


def test_minutes_closing_after_the_event_never_change_its_context(cfg):
    times = ["10:01:00", "10:02:30", "10:04:59", "10:05:00.5"]
    base = build_context(events(times), None, None, cfg, None, l2_rows())
    rng = np.random.default_rng(7)
    for t in times:
        t = pd.Timestamp(f"{DAY.date()} {t}")
        later = l2_rows()
        after = later["ts"] + pd.Timedelta(minutes=1) > t
        later.loc[after, ["ofi", "spread", "depth_imbalance"]] = rng.normal(size=(int(after.sum()), 3))
        c = build_context(events(times), None, None, cfg, None, later)
        one = times.index(next(x for x in times if pd.Timestamp(f"{DAY.date()} {x}") == t))
        pd.testing.assert_series_equal(c[L2_CONTEXT_COLUMNS].iloc[one], base[L2_CONTEXT_COLUMNS].iloc[one])
        # and near-live: only the minutes closed by t are read at all
        cut = l2_rows()[~after.to_numpy()]
        c = build_context(events(times), None, None, cfg, None, cut)
        pd.testing.assert_series_equal(c[L2_CONTEXT_COLUMNS].iloc[one], base[L2_CONTEXT_COLUMNS].iloc[one])


def test_another_sessions_minutes_are_never_used(cfg):
    prev = l2_rows(start="15:55", day=DAY - pd.Timedelta(days=1))
    c = build_context(events(["09:31:00"]), None, None, cfg, None, prev)
    assert c["l2_source"].iloc[0] == NO_L2


def test_two_rows_for_one_minute_are_an_error(cfg):
    dup = pd.concat([l2_rows(n=2), l2_rows(n=1)], ignore_index=True)
    with pytest.raises(ValueError, match="two rows for XYZ at"):
        build_context(events(["10:05:00"]), None, None, cfg, None, dup)


def test_without_l2_the_context_and_signals_are_unchanged(cfg):
    sc = build_scenario(cfg)
    args = (sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"])
    none = score_batch(*args)
    empty = score_batch(*args, l2=l2_rows().iloc[:0])
    pd.testing.assert_frame_equal(none.context, empty.context)
    pd.testing.assert_frame_equal(none.signals, empty.signals)
    assert (none.context["l2_source"] == NO_L2).all() and none.context["l2_asof"].isna().all()
    for js in none.signals["context_json"]:
        assert not any(k.startswith("l2_") for k in json.loads(js))
    # with L2 minutes of the session: the same signals (ids, kinds, scores); the context carries them
    l2 = l2_rows(start="09:30", n=390)
    withl2 = score_batch(*args, l2=l2)
    assert withl2.signals["signal_id"].tolist() == none.signals["signal_id"].tolist()
    same = [c for c in none.signals.columns if c != "context_json"]
    pd.testing.assert_frame_equal(withl2.signals[same], none.signals[same])
    assert (withl2.context["l2_source"] == "dbn mbo XNAS.ITCH").all()
    ctx = json.loads(withl2.signals["context_json"].iloc[0])
    assert ctx["l2_source"] == "dbn mbo XNAS.ITCH" and ctx["l2_ofi_1m"] is not None


def test_read_l2_features_near_live_reads_only_closed_minutes():
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        con.register("r", pd.concat([l2_rows(), l2_rows("ABC")], ignore_index=True))
        con.execute("INSERT INTO market.l2_features SELECT * FROM r")
        day = DAY.date()
        full = read_l2_features(con, day, ["XYZ"])
        cut = read_l2_features(con, day, ["XYZ"], until=dt.datetime.combine(day, dt.time(10, 3, 30)))
        other = read_l2_features(con, day + dt.timedelta(days=1), ["XYZ"])
    assert len(full) == 6 and set(full["ticker"]) == {"XYZ"}
    assert [t.strftime("%H:%M") for t in cut["ts"]] == ["10:00", "10:01", "10:02"]  # 10:03 still open
    assert other.empty
