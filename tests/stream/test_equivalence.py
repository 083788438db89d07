"""Equivalence: a synthetic session replayed through the incremental scorer gives the daily batch
path's orders and signals (ids, kinds, strengths, tags, every column), whatever the chunking;
where it cannot (a cancel of an order it already committed), it says so, and the differences are
exactly those it reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stream_fixtures import batch, comparable, session, stream, stream_cfg, without_cancels

from primeflow_lib.live.stream.broker import partition_of
from primeflow_lib.schema.flow import FLOW_EVENTS, SIGNALS

EVENT_COLS = [c for c in FLOW_EVENTS.column_names if c != "event_id"]
SIGNAL_COLS = [c for c in SIGNALS.column_names if c != "signal_id"]


def _assert_same_events(b: pd.DataFrame, s: pd.DataFrame, ids: set[str]) -> None:
    ids = sorted(ids)
    pd.testing.assert_frame_equal(
        comparable(b, "event_id", EVENT_COLS).loc[ids], comparable(s, "event_id", EVENT_COLS).loc[ids],
        check_dtype=False, check_exact=False, rtol=1e-12, atol=0, check_index_type=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed,max_chunk,prints", [(0, 400, None), (1, 7, 2500)])
def test_replayed_session_equals_the_daily_batch(seed, max_chunk, prints):
    """Late reports included (they arrive up to 12 minutes after their trade time, when every
    order around them is committed); cancels removed from the tape (next test). Chunks of 1-6
    prints on the first 2,500 prints, 1-399 on the whole session."""
    cfg = stream_cfg()
    s = session()
    tape = without_cancels(s.prints)
    if prints is not None:
        tape = tape.iloc[:prints]
    b = batch(s, tape, cfg)
    st = stream(s, tape, cfg, seed=seed, max_chunk=max_chunk)
    assert b.stats["prints"]["late_prints"] > (10 if prints is None else 0)  # late reports in the tape
    assert len(b.signals) > (100 if prints is None else 10)
    assert len(set(b.signals["kind"])) >= (3 if prints is None else 2)
    assert st.divergences == []
    assert set(st.events["event_id"]) == set(b.events["event_id"])
    _assert_same_events(b.events, st.events, set(b.events["event_id"]))
    assert sorted(st.signals["signal_id"]) == sorted(b.signals["signal_id"])
    pd.testing.assert_frame_equal(
        comparable(b.signals, "signal_id", SIGNAL_COLS), comparable(st.signals, "signal_id", SIGNAL_COLS),
        check_dtype=False, check_exact=False, rtol=1e-12, atol=0,
    )


@pytest.mark.slow
def test_cancels_of_committed_orders_are_the_only_differences_and_are_counted():
    cfg = stream_cfg()
    s = session()
    b = batch(s, s.prints, cfg)
    st = stream(s, s.prints, cfg, seed=3)
    assert b.stats["prints"]["cancels"] > 10
    reasons = {d.reason for d in st.divergences}
    assert reasons == {"cancel_of_committed_print"}
    reported = {e for d in st.divergences for e in d.event_ids}
    b_ids, s_ids = set(b.events["event_id"]), set(st.events["event_id"])
    assert reported <= s_ids  # orders the stream committed, by their ids (never a placeholder)
    # every order only the stream built is one it reported; the batch's versions of those orders
    # are made of the same prints minus the cancelled ones
    assert s_ids - b_ids <= reported
    cancelled = {d.rx for d in st.divergences}
    assert len(cancelled) == len(st.divergences)
    only_b = b.events[b.events["event_id"].isin(b_ids - s_ids)]
    reported_prints = set(",".join(st.events.loc[st.events["event_id"].isin(reported), "print_ids"]).split(","))
    for pids in only_b["print_ids"]:
        assert set(pids.split(",")) <= reported_prints
    # orders both built agree everywhere except where a reported cancel changed the volume
    both = b_ids & s_ids
    bb = comparable(b.events, "event_id", EVENT_COLS).loc[sorted(both)]
    ss = comparable(st.events, "event_id", EVENT_COLS).loc[sorted(both)]
    diff = (bb != ss) & ~(bb.isna() & ss.isna())
    changed = set(diff.index[diff.any(axis=1)])
    assert changed <= reported
    assert set(diff.columns[diff.any(axis=0)]) <= {"day_volume", "vol_oi"}
    # signals: same, except on reported orders
    sb = b.signals.set_index("signal_id")
    sst = st.signals.set_index("signal_id")
    odd = set(sb.index) ^ set(sst.index)
    events_of_odd = set(sb.reindex(list(odd))["event_id"].dropna()) | set(sst.reindex(list(odd))["event_id"].dropna())
    assert events_of_odd <= reported | (b_ids - s_ids)
    common = sorted(set(sb.index) & set(sst.index))
    assert len(common) > 100
    same = (np.isclose(sb.loc[common, "strength"], sst.loc[common, "strength"], rtol=1e-12, atol=0)
            & (sb.loc[common, "tags"] == sst.loc[common, "tags"]))
    assert set(sb.loc[common].index[~same]) <= set(sb.loc[common].index[sb.loc[common, "event_id"].isin(reported)])


@pytest.mark.slow
def test_partitions_by_underlying_give_the_single_process_signals():
    """What each broker consumer scores is independent: the union of two partitions' signals
    is the one-process result."""
    cfg = stream_cfg()
    s = session()
    tape = without_cancels(s.prints)
    whole = stream(s, tape, cfg, keep_events=False)
    part = partition_of(tape["underlying"].to_numpy(dtype=object), 2)
    assert len(set(part)) == 2
    halves = [stream(s, tape[part == k].reset_index(drop=True), cfg, seed=k, keep_events=False) for k in (0, 1)]
    union = pd.concat([h.signals for h in halves], ignore_index=True)
    assert sorted(union["signal_id"]) == sorted(whole.signals["signal_id"])
    pd.testing.assert_frame_equal(
        comparable(union, "signal_id", SIGNAL_COLS), comparable(whole.signals, "signal_id", SIGNAL_COLS),
        check_dtype=False, check_exact=False, rtol=1e-12, atol=0)
