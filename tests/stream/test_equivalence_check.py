"""The stream = batch comparison that ``make check-real`` runs (primeflow_lib.live.stream.equivalence):
every difference between the two paths' orders must be one the stream reported."""

from __future__ import annotations

import dataclasses

import numpy as np
from stream_fixtures import batch, loader, session, stream_cfg, without_cancels

from primeflow_lib.live.stream.equivalence import compare_orders, replay
from primeflow_lib.live.stream.scorer import Divergence


def _setup():
    cfg = stream_cfg()
    s = session()
    tape = without_cancels(s.prints).iloc[:3000].reset_index(drop=True)
    return cfg, s, tape, batch(s, tape, cfg)


def test_a_replay_in_any_chunking_matches_the_batch_and_nothing_is_unexplained():
    cfg, s, tape, b = _setup()
    rng = np.random.default_rng(5)
    for chunks in (lambda: 500, lambda: int(rng.integers(1, 10))):
        r = replay(tape, s.day, cfg, chunks=chunks, loader=loader(s))
        c = compare_orders(b.events, r.events, r.divergences)
        assert c.both == len(b.events) > 100
        assert (c.batch_only, c.stream_only, c.differing, c.unexplained) == (0, 0, 0, [])


def test_a_difference_is_unexplained_until_a_divergence_names_its_order_or_print():
    cfg, s, tape, b = _setup()
    r = replay(tape, s.day, cfg, chunks=lambda: 300, loader=loader(s))
    ev = r.events.copy()
    ev.loc[7, "size"] = ev.loc[7, "size"] + 1
    eid, pid = ev.loc[7, "event_id"], str(ev.loc[7, "print_ids"]).split(",")[0]
    c = compare_orders(b.events, ev, [])
    assert (c.differing, c.columns, c.unexplained) == (1, {"size": 1}, [eid])
    named = Divergence(rx=0, reason="cancel_of_committed_print", detail="", event_ids=[eid])
    assert compare_orders(b.events, ev, [named]).unexplained == []
    by_print = Divergence(rx=0, reason="print_behind_frontier", detail="", print_id=pid)
    assert compare_orders(b.events, ev, [by_print]).unexplained == []
    # a context divergence is about context, not the order: it explains nothing
    ctx = dataclasses.replace(named, reason="context_bar_missing")
    assert compare_orders(b.events, ev, [ctx]).unexplained == [eid]
    # an order only the stream built, or only the batch, is unexplained too
    assert compare_orders(b.events, ev.drop(index=7), []).unexplained == [eid]
