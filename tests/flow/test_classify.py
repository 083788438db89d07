"""Prints -> orders: hand-built print sequences with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from flow_builders import SYM, make_prints

from primeflow_lib.flow.classify import classify_prints
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.validate import validate_prints


def classify(rows, cfg, **kw):
    v = validate_prints(make_prints(rows))
    assert v.counts["rows_quarantined"] == 0
    return classify_prints(v.good, v.contracts, cfg["flow"], **kw)


def test_four_exchange_sweep(cfg):
    rows = [
        {"t": f"10:00:00.00{i}", "exchange": ex, "size": 50, "conditions": "219"}
        for i, ex in enumerate((302, 308, 316, 323))
    ]
    ev = classify(rows, cfg).events
    assert len(ev) == 1
    e = ev.iloc[0]
    assert (e.event_type, e.n_prints, e.n_exchanges, e["size"]) == ("sweep", 4, 4, 200)
    assert e.premium == pytest.approx(2.50 * 200 * 100)
    assert (e.side, e.side_confidence, e.sentiment) == ("ask", "high", "bullish")
    assert bool(e.has_iso)
    assert len(e.print_ids.split(",")) == 4


def test_split_is_one_exchange(cfg):
    rows = [{"t": f"10:00:00.{i * 100:03d}", "exchange": 308, "size": 20} for i in range(3)]
    ev = classify(rows, cfg).events
    assert list(ev.event_type) == ["split"]
    assert int(ev.n_exchanges.iloc[0]) == 1


def test_prints_outside_the_window_are_separate(cfg):
    rows = [{"t": "10:00:00.000", "exchange": 302}, {"t": "10:00:00.600", "exchange": 308}]
    ev = classify(rows, cfg).events
    assert list(ev.event_type) == ["single", "single"]
    cfg["flow"]["sweep_window_ms"] = 1000
    assert list(classify(rows, cfg).events.event_type) == ["sweep"]


def test_window_is_measured_from_the_first_print(cfg):
    # each gap is 300 ms but the third print is 600 ms after the first: a new order
    rows = [{"t": f"10:00:00.{ms:03d}", "exchange": 302 + i} for i, ms in enumerate((0, 300, 600))]
    ev = classify(rows, cfg).events
    assert list(ev.n_prints) == [2, 1]


def test_direction_change_splits_orders(cfg):
    rows = [
        {"t": "10:00:00.000", "price": 2.50},
        {"t": "10:00:00.010", "price": 2.40, "exchange": 308},
    ]
    ev = classify(rows, cfg).events
    assert list(ev.side) == ["ask", "bid"]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([{"t": "10:00:00", "size": 1000, "price": 0.10, "bid": 0.05, "ask": 0.10}], "size"),
        ([{"t": "10:00:00", "size": 300, "price": 9.0, "bid": 8.9, "ask": 9.0}], "premium"),
        ([{"t": "10:00:00", "size": 5, "conditions": "229"}], "cross"),
        ([{"t": "10:00:00", "size": 5, "conditions": "231"}], "floor"),
    ],
)
def test_block(rows, why, cfg):
    ev = classify(rows, cfg).events
    assert list(ev.event_type) == ["block"], why


def test_small_single(cfg):
    assert list(classify([{"t": "10:00:00", "size": 5}], cfg).events.event_type) == ["single"]


def test_negotiated_print_never_joins_a_sweep(cfg):
    rows = [
        {"t": "10:00:00.000", "exchange": 302, "conditions": "219"},
        {"t": "10:00:00.001", "exchange": 308, "conditions": "229"},
    ]
    ev = classify(rows, cfg).events
    assert list(ev.event_type) == ["single", "block"]


def test_cancel_removes_its_target_and_itself(cfg):
    rows = [
        {"t": "10:00:00", "price": 2.45, "size": 500, "exchange": 302},
        {"t": "10:00:05", "price": 2.45, "size": 500, "exchange": 302},  # nearest earlier
        {"t": "10:00:10", "price": 2.46, "size": 7},
        {"t": "10:00:20", "price": 2.45, "size": 500, "conditions": "201", "correction": 1},
    ]
    c = classify(rows, cfg)
    ev = c.events
    assert c.counts["cancels"] == 1 and c.counts["cancelled_prints"] == 1
    assert len(ev) == 2
    kept = ",".join(ev.print_ids)
    p = make_prints(rows)
    assert p.print_id[0] in kept and p.print_id[1] not in kept and p.print_id[3] not in kept
    assert c.counts["cancels_unmatched"] == 0


def test_correction_flag_alone_is_a_cancel(cfg):
    rows = [{"t": "10:00:00", "size": 9}, {"t": "10:00:01", "size": 9, "correction": 1}]
    c = classify(rows, cfg)
    assert len(c.events) == 0 and c.counts["cancels"] == 1


def test_unmatched_cancel_is_quarantined(cfg):
    res = score_batch(
        make_prints([{"t": "10:00:00", "size": 3, "conditions": "201"}]), None, None, None, cfg
    )
    assert len(res.events) == 0
    assert list(res.quarantine.reason) == [
        "cancel with no matching earlier print (same contract, price, size)"
    ]
    assert res.stats["prints"]["cancels_unmatched"] == 1


def test_multileg_is_non_directional(cfg):
    ev = classify([{"t": "10:00:00", "size": 250, "conditions": "232"}], cfg).events
    e = ev.iloc[0]
    assert (e.event_type, e.sentiment, bool(e.non_directional)) == ("multileg", "neutral", True)


def test_stock_option_is_non_directional(cfg):
    ev = classify([{"t": "10:00:00", "conditions": "241"}], cfg).events
    assert (ev.event_type.iloc[0], ev.sentiment.iloc[0]) == ("stock_option", "neutral")


def test_late_condition_counts_volume_but_is_flagged(cfg):
    rows = [
        {"t": "10:00:00", "size": 10},
        {"t": "10:00:00.100", "size": 7, "conditions": "204", "exchange": 308},
    ]
    ev = classify(rows, cfg).events
    assert list(ev.is_late) == [False, True]
    assert list(ev.day_volume) == [10, 17]


def test_out_of_order_timestamp_is_late(cfg):
    # received second (seq 1) but stamped before the first
    rows = [{"t": "10:00:05", "size": 10, "seq": 0}, {"t": "10:00:01", "size": 4, "seq": 1}]
    c = classify(rows, cfg)
    ev = c.events.sort_values("first_ts")
    assert list(ev.is_late) == [True, False]
    assert c.counts["late_by_timestamp"] == 1
    # volume counts in received order: the late print adds after the first
    assert list(ev.day_volume) == [14, 10]


def test_compression_dropped_and_counted(cfg):
    c = classify([{"t": "10:00:00", "conditions": "247"}, {"t": "10:01:00"}], cfg)
    assert len(c.events) == 1 and c.counts["compression_dropped"] == 1


def test_no_quote_uses_tick_rule_low_confidence(cfg):
    rows = [
        {"t": "10:00:00", "price": 2.40, "bid": None, "ask": None},
        {"t": "10:00:01", "price": 2.45, "bid": None, "ask": None},
        {"t": "10:00:02", "price": 2.45, "bid": None, "ask": None},
        {"t": "10:00:03", "price": 2.41, "bid": None, "ask": None},
    ]
    c = classify(rows, cfg)
    ev = c.events
    assert list(ev.side) == ["mid", "to_ask", "to_ask", "to_bid"]
    assert set(ev.side_confidence) == {"low"}
    assert c.counts["no_quote_prints"] == 4


def test_crossed_quote_falls_back_to_tick_rule(cfg):
    rows = [
        {"t": "10:00:00", "price": 2.40},
        {"t": "10:00:01", "price": 2.45, "bid": 2.60, "ask": 2.50},
    ]
    c = classify(rows, cfg)
    assert c.events.side_confidence.iloc[1] == "low"
    assert c.counts["crossed_quote_prints"] == 1


@pytest.mark.parametrize(
    ("price", "label"),
    [
        (2.55, "above_ask"),
        (2.50, "ask"),
        (2.48, "to_ask"),
        (2.45, "mid"),
        (2.42, "to_bid"),
        (2.40, "bid"),
        (2.35, "below_bid"),
    ],
)
def test_side_labels(price, label, cfg):
    ev = classify([{"t": "10:00:00", "price": price}], cfg).events
    assert ev.side.iloc[0] == label


@pytest.mark.parametrize(
    ("symbol", "price", "sentiment"),
    [
        ("XYZ250620C00101000", 2.50, "bullish"),
        ("XYZ250620C00101000", 2.40, "bearish"),
        ("XYZ250620P00101000", 2.50, "bearish"),
        ("XYZ250620P00101000", 2.40, "bullish"),
        ("XYZ250620P00101000", 2.45, "neutral"),
    ],
)
def test_sentiment(symbol, price, sentiment, cfg):
    ev = classify([{"t": "10:00:00", "option_symbol": symbol, "price": price}], cfg).events
    assert ev.sentiment.iloc[0] == sentiment


def test_event_ids_stable_and_independent_of_row_order(cfg):
    rows = [
        {"t": f"10:00:0{i}.00{k}", "exchange": 302 + k, "option_symbol": sym}
        for i, sym in enumerate((SYM, "XYZ250620P00099000"))
        for k in range(3)
    ]
    p = make_prints(rows)
    a = score_batch(p, None, None, None, cfg).events
    b = score_batch(p.sample(frac=1.0, random_state=3), None, None, None, cfg).events
    assert sorted(a.event_id) == sorted(b.event_id)
    assert a.event_id.is_unique
    pd.testing.assert_frame_equal(
        a.sort_values("event_id").reset_index(drop=True),
        b.sort_values("event_id").reset_index(drop=True),
    )


def test_several_contracts_and_sessions(cfg):
    rows = [
        {"t": "10:00:00", "day": "2025-06-12"},
        {"t": "10:00:00"},
        {"t": "10:00:00", "option_symbol": "XYZ250620P00099000"},
    ]
    ev = classify(rows, cfg).events
    assert len(ev) == 3
    assert np.array_equal(np.sort(ev.day_volume.to_numpy()), [10, 10, 10])


def test_two_fills_alike_in_one_millisecond_are_two_orders_with_two_ids(cfg):
    """A real Cboe day has them: one contract, same millisecond, venue, price and size, two fills
    (the vendor's sequence numbers and the quotes differ) that the rules make two orders. Their
    ids were one hash (two orders shared one key); the vendor's sequence number now tells them
    apart."""
    rows = [
        {"t": "11:03:18.425", "price": 0.35, "size": 1, "bid": 0.30, "ask": 0.35, "exchange": 5, "seq": 27,
         "vendor_sequence": 105186514},
        {"t": "11:03:18.425", "price": 0.35, "size": 1, "bid": 0.30, "ask": 0.40, "exchange": 5, "seq": 28,
         "vendor_sequence": 38077662},
    ]
    ev = classify(rows, cfg).events
    assert len(ev) == 2
    assert ev["event_id"].nunique() == 2
    again = classify(rows, cfg).events  # still stable across runs
    assert list(again["event_id"]) == list(ev["event_id"])


def test_without_a_vendor_sequence_an_order_id_does_not_depend_on_the_delivery_position(cfg):
    """``seq`` of a vendor without sequence numbers is a position in one delivery (Massive's
    websocket counts from the stream's start, its day files from the day's): the same order gets
    the same id from both."""
    rows = [{"t": "10:00:00.000", "seq": 3}, {"t": "10:00:05.000", "seq": 4, "exchange": 308}]
    live = classify(rows, cfg).events
    renumbered = classify([{**r, "seq": r["seq"] + 1000} for r in rows], cfg).events
    assert list(live["event_id"]) == list(renumbered["event_id"])
    with_vseq = classify([{**r, "vendor_sequence": 7 + i} for i, r in enumerate(rows)], cfg).events
    assert set(with_vseq["event_id"]).isdisjoint(live["event_id"])


def test_every_order_of_the_real_cboe_day_has_its_own_id(real_data, cfg):
    from primeflow_lib.vendors.cboe.trades import read_option_trades

    f = next((real_data / "cboe_trades").glob("*.csv"))
    prints, _ = read_option_trades(f)
    ev = score_batch(prints, None, None, None, cfg, source=f.name).events
    assert len(ev) > 1000
    assert ev["event_id"].is_unique
