"""The scorer's committed history grows in place (a step's append costs what it adds): the same
rows as concatenating, trims that keep the newest rows, writes through its columns kept."""

from __future__ import annotations

import numpy as np

from primeflow_lib.live.stream import scorer as S


def _tape(rng: np.random.Generator, n: int, start: int) -> S._Tape:
    cols = {k: (np.asarray([f"p{start + i}" for i in range(n)], dtype=object) if dt_ is object
                else rng.integers(0, 100, n).astype(dt_)) for k, dt_ in S._Tape.FIELDS.items()}
    cols["rx"] = np.arange(start, start + n, dtype=np.int64)
    return S._Tape(cols)


def test_the_growing_history_holds_what_concatenation_holds_across_growth_and_trims():
    rng = np.random.default_rng(7)
    grown, plain = S._GrowingTape(), S._Tape()
    rx = 0
    for step in range(60):
        n = int(rng.integers(0, 700))  # crosses the first capacity (1,024) several times; empty steps too
        t = _tape(rng, n, rx)
        rx += n
        grown.append(t)
        plain.append(t)
        if step % 17 == 16:  # a trim keeps the newest rows, as the scorer's does
            keep = plain.rx >= plain.rx[len(plain) // 2]
            grown.keep(keep)
            plain.keep(keep)
        assert len(grown) == len(plain)
        for k in S._Tape.FIELDS:
            assert grown.cols[k].dtype == plain.cols[k].dtype
            np.testing.assert_array_equal(grown.cols[k], plain.cols[k])
    # a cancelled print's order id is written through the columns (as hist_event is)
    facts = S._GrowingTape(S._HIST_FACTS)
    facts.append(S._Tape({"start": np.ones(3, bool), "tick": np.zeros(3, bool), "dir": np.ones(3, np.int8),
                          "event": np.asarray(["a", "b", "c"], dtype=object)}))
    view = facts.cols["event"]
    view[1] = ""
    assert facts.cols["event"].tolist() == ["a", "", "c"]
    facts.append(S._Tape({k: v[:1] for k, v in facts.cols.items()}))
    assert facts.cols["event"].tolist() == ["a", "", "c", "a"] and len(facts) == 4


def test_the_history_index_by_contract_follows_the_history():
    """``_hist_rows(c)`` (the history's rows of a contract, from an index rebuilt only after the
    history changed) is what a scan of the whole history finds, step after step, cancels and
    history trims included."""
    from stream_fixtures import loader, session, stream_cfg

    s = session()
    cfg = stream_cfg()
    cfg["stream"]["history_minutes"] = 20  # trims the history within the tape
    sc = S.StreamScorer(s.day, cfg, S.SessionMarket(s.day, cfg, loader(s)))
    tape = s.prints.iloc[:8000]
    checked = 0
    for a in range(0, len(tape), 400):
        sc.add(tape.iloc[a:a + 400], np.arange(a, a + min(400, len(tape) - a)))
        sc.advance()
        for c in np.unique(sc.hist.c):
            np.testing.assert_array_equal(sc._hist_rows(int(c)), np.flatnonzero(sc.hist.c == c))
            checked += 1
        assert len(sc._hist_rows(-1)) == 0
    assert checked > 1000 and sc.counts["cancelled_prints"] > 0
