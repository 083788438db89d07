"""market.l2_features rows: OFI per minute on a constructed MBO stream against hand-computed
values, quiet minutes, minute completion, crossed MBP-10 records, and the real XNAS.ITCH files
(finite features, never crossed, MBO and MBP-10 give the same minute)."""

from __future__ import annotations

import datetime as dt

import databento_dbn as dbn
import numpy as np
import pandas as pd
import pytest

from primeflow_lib.flow.l2book import F_LAST, UNDEF_PRICE
from primeflow_lib.market.l2_features import L2Error, L2MinuteBuilder, l2_minute_features
from primeflow_lib.market.l2_sources import L2Settings, l2_from_files
from primeflow_lib.schema.market import L2_FEATURES

USD = 1_000_000_000
NS_MIN = 60_000_000_000
# 2024-03-05 10:00 America/New_York (15:00 UTC)
T0 = int(pd.Timestamp("2024-03-05 10:00", tz="America/New_York").value)


def mbo(seq, minute, sec, action, side="NONE", price=0.0, size=0, oid=0, flags=F_LAST, iid=1):
    t = T0 + minute * NS_MIN + sec * 1_000_000_000
    return dbn.MBOMsg(publisher_id=2, instrument_id=iid, ts_event=t - 1000, ts_recv=t, order_id=oid,
                      price=int(round(price * USD)) if price else dbn.UNDEF_PRICE, size=size,
                      action=getattr(dbn.Action, action), side=getattr(dbn.Side, side), flags=flags, sequence=seq)


# (see test_ofi_per_minute_by_hand for the book after each event)
STREAM = [
    mbo(1, 0, 1, "ADD", "BID", 100.00, 10, oid=1),
    mbo(2, 0, 2, "ADD", "ASK", 100.05, 7, oid=2),
    mbo(3, 0, 3, "ADD", "BID", 100.01, 5, oid=3),
    mbo(4, 1, 5, "CANCEL", "ASK", 100.05, 3, oid=2),
    mbo(5, 1, 6, "CANCEL", "BID", 100.01, 5, oid=3),
    # minute 2: nothing
    mbo(6, 3, 0, "ADD", "ASK", 100.02, 2, oid=4),
]


def test_ofi_per_minute_by_hand():
    # e_n = 1{Pb>=Pb'} qb - 1{Pb<=Pb'} qb' - 1{Pa<=Pa'} qa + 1{Pa>=Pa'} qa'  (' = before the event)
    # 1: first event of the day: no previous state, adds nothing
    # 2: bid 100.00x10 unchanged (+10 - 10); no ask before: the ask term is undefined -> 0
    # 3: bid up to 100.01x5: +5; ask 100.05x7 unchanged (-7 + 7)            -> minute 10:00 = 5
    # 4: ask 100.05 7 -> 4: -4 + 7 = +3; bid unchanged                      -> +3
    # 5: bid back down to 100.00 (100.01x5 left): -5                        -> minute 10:01 = -2
    # 10:02: no records: ofi 0, the book carried over
    # 6: ask down to 100.02x2: -2                                           -> minute 10:03 = -2
    rows, b = l2_minute_features(STREAM, ticker="NVDA", depth_levels=5, dataset="XNAS.ITCH", source="test")
    assert list(rows.columns) == L2_FEATURES.column_names
    assert [t.strftime("%H:%M") for t in rows["ts"]] == ["10:00", "10:01", "10:02", "10:03"]
    assert rows["ofi"].tolist() == pytest.approx([5.0, -2.0, 0.0, -2.0])
    assert rows["messages"].tolist() == [3, 2, 0, 1] and rows["book_events"].tolist() == [3, 2, 0, 1]
    assert rows["bid"].tolist() == pytest.approx([100.01, 100.00, 100.00, 100.00])
    assert rows["ask"].tolist() == pytest.approx([100.05, 100.05, 100.05, 100.02])
    assert rows["spread"].tolist() == pytest.approx([0.04, 0.05, 0.05, 0.02])
    assert rows["bid_depth"].tolist() == [15, 10, 10, 10] and rows["ask_depth"].tolist() == [7, 4, 4, 6]
    assert rows["depth_imbalance"].tolist() == pytest.approx([8 / 22, 6 / 14, 6 / 14, 4 / 16])
    assert rows["synced"].all() and (rows["book_issues"] == 0).all() and not b.issues
    assert set(rows["trade_date"]) == {dt.date(2024, 3, 5)} and set(rows["schema"]) == {"mbo"}


def test_a_minute_is_returned_only_once_a_later_record_is_received():
    b = L2MinuteBuilder(ticker="NVDA")
    assert [b.feed(r) for r in STREAM[:3]] == [[], [], []]
    done = b.feed(STREAM[3])  # first record of 10:01 completes 10:00
    assert [r["minute"] for r in done] == [(T0 // NS_MIN)] and done[0]["ofi"] == pytest.approx(5.0)
    assert b.feed(STREAM[4]) == []
    done = b.feed(STREAM[5])  # 10:03 completes 10:01 and the quiet 10:02
    assert [r["minute"] - T0 // NS_MIN for r in done] == [1, 2]
    assert [r["minute"] - T0 // NS_MIN for r in b.flush()] == [3]


def test_a_lost_book_gives_null_ofi_and_state_until_resync():
    recs = [*STREAM[:3], mbo(4, 1, 1, "CANCEL", "BID", 99.0, 1, oid=77), mbo(5, 2, 1, "ADD", "BID", 99.0, 1, oid=8)]
    rows, b = l2_minute_features(recs, ticker="NVDA")
    # 10:02 saw no issue, but the book was out of sync all minute: its flow is unknown, not 0
    assert rows["ofi"].isna().tolist() == [False, True, True]
    assert rows["synced"].tolist() == [True, False, False] and rows["bid"].isna().tolist() == [False, True, True]
    assert rows["book_issues"].tolist() == [0, 1, 0] and "unknown order 77" in b.issues[0][1].reason


def _mbp10(seq, minute, bid, ask, bsz=1, asz=1):
    t = T0 + minute * NS_MIN
    lv = [dbn.BidAskPair(bid_px=int(bid * USD), ask_px=int(ask * USD), bid_sz=bsz, ask_sz=asz)]
    lv += [dbn.BidAskPair(bid_px=UNDEF_PRICE, ask_px=UNDEF_PRICE)] * 9
    return dbn.MBP10Msg(publisher_id=2, instrument_id=1, ts_event=t, price=int(bid * USD), size=1,
                        action=dbn.Action.ADD, side=dbn.Side.BID, depth=0, ts_recv=t, flags=F_LAST, sequence=seq,
                        levels=lv)


def test_a_crossed_mbp10_record_is_an_issue_never_a_stored_state():
    rows, b = l2_minute_features([_mbp10(1, 0, 100.0, 100.1), _mbp10(2, 1, 100.2, 100.1)], ticker="NVDA")
    assert rows["synced"].tolist() == [True, False] and rows["spread"].isna().tolist() == [False, True]
    assert "crossed book in an MBP-10 record" in b.issues[0][1].reason


def test_bad_streams_are_clear_errors():
    with pytest.raises(L2Error, match="instrument_id: records of instruments 1 and 2"):
        l2_minute_features([STREAM[0], mbo(2, 0, 2, "ADD", "ASK", 101.0, 1, oid=9, iid=2)], ticker="NVDA")
    with pytest.raises(L2Error, match="no ticker for instrument 5"):
        l2_minute_features([mbo(1, 0, 1, "ADD", "BID", 100.0, 1, oid=1, iid=5)], symbols={1: "NVDA"})
    with pytest.raises(ValueError, match="exactly one of ticker"):
        L2MinuteBuilder()


def test_l2_settings_validate_the_config_section():
    base = {"source": None, "files": {}, "tickers": [], "dataset": "XNAS.ITCH", "schema": "mbp-10",
            "depth_levels": 5, "max_age_minutes": 5}
    assert L2Settings.from_config({"l2": base}) is None
    from primeflow_lib.config import ConfigError

    with pytest.raises(ConfigError, match="l2.source"):
        L2Settings.from_config({"l2": {**base, "source": "ftp"}})
    with pytest.raises(ConfigError, match="l2.files"):
        L2Settings.from_config({"l2": {**base, "source": "dbn"}})
    with pytest.raises(ConfigError, match="l2.schema"):
        L2Settings.from_config({"l2": {**base, "source": "dbn", "files": {"NVDA": ["x"]}, "schema": "trades"}})


# -- the real Databento XNAS.ITCH sample (NVDA, 2020-12-28) --------------------------------------
REAL_DAY = dt.date(2020, 12, 28)


@pytest.mark.parametrize("schema", ["mbo", "mbp-10"])
def test_real_xnas_itch_features_are_finite_and_the_book_never_crossed(real_data, schema):
    xnas = real_data / "databento" / "XNAS.ITCH"
    if not (xnas / "test_data.mbo.dbn.zst").is_file():
        pytest.skip(f"real Databento files not found under {xnas} (set PRIMEFLOW_REAL_DATA)")
    res = l2_from_files([xnas], "NVDA", REAL_DAY, schema=schema)
    rows = res.rows
    assert len(rows) >= 1 and not res.issues and res.stats["NVDA"]["messages"] == 4
    num = rows[["ofi", "bid", "ask", "spread", "mid", "depth_imbalance"]].to_numpy(np.float64)
    assert np.isfinite(num).all()
    assert (rows["ask"] > rows["bid"]).all() and rows["depth_imbalance"].between(-1, 1).all()
    assert rows["synced"].all() and (rows["book_issues"] == 0).all()
    # the last state is the one the MBO replay test checks against MBP-10: 512.01 x 1 / 539.00 x 17
    last = rows.iloc[-1]
    assert (last["bid"], last["bid_size"], last["ask"], last["ask_size"]) == (512.01, 1, 539.0, 17)
    assert set(rows["vendor"]) == {"dbn"} and set(rows["dataset"]) == {"XNAS.ITCH"}


def test_real_mbo_and_mbp10_give_the_same_minutes(real_data):
    xnas = real_data / "databento" / "XNAS.ITCH"
    if not (xnas / "test_data.mbo.dbn.zst").is_file():
        pytest.skip(f"real Databento files not found under {xnas} (set PRIMEFLOW_REAL_DATA)")
    a = l2_from_files([xnas], "NVDA", REAL_DAY, schema="mbo").rows
    b = l2_from_files([xnas], "NVDA", REAL_DAY, schema="mbp-10").rows
    cols = ["ts", "ofi", "bid", "ask", "bid_size", "ask_size", "bid_depth", "ask_depth", "depth_imbalance"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # another session of the same files: no rows, and a note saying so
    other = l2_from_files([xnas], "NVDA", dt.date(2020, 12, 29), schema="mbo")
    assert other.rows.empty and any("no mbo records on 2020-12-29" in n for n in other.notes)


def test_l2_files_in_the_config_file(tmp_path):
    from primeflow_lib.config import ConfigError, load_config

    p = tmp_path / "c.yaml"
    p.write_text("l2:\n  source: dbn\n  files:\n    nvda: /data/a.dbn.zst\n    spy: [/data/b, /data/c]\n")
    cfg = load_config(p, with_api_keys=False)
    assert L2Settings.from_config(cfg).files == {"NVDA": ("/data/a.dbn.zst",), "SPY": ("/data/b", "/data/c")}
    p.write_text("l2:\n  files:\n    nvda: 3\n")
    with pytest.raises(ConfigError, match=r"key 'l2.files.nvda' must be a path or a list of paths .*got 3"):
        load_config(p, with_api_keys=False)
