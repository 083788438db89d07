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
