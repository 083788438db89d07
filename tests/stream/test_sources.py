"""merge_chunks: what an ingest publishes as one message keeps every print in order, the last
position, the newest clock and every rejected input."""

from __future__ import annotations

import pandas as pd

from primeflow_lib.live.stream.sources import Chunk, merge_chunks


def _rows(a: int, b: int) -> list[dict]:
    return [{"option_symbol": f"O:SPY250620C{i:08d}", "size": i} for i in range(a, b)]


def test_merge_keeps_raw_rows_order_position_clock_and_rejected():
    a = Chunk(None, position=None, clock_ns=5, rejected=[("x", "bad")], rows=_rows(0, 3))
    b = Chunk(None, position="7", clock_ns=3, rows=_rows(3, 5))
    c = Chunk(None, position=None, clock_ns=None, rejected=[("y", "worse")], rows=[])
    m = merge_chunks([a, b, c])
    assert m.prints is None and [r["size"] for r in m.rows] == [0, 1, 2, 3, 4]
    assert m.position == "7" and m.clock_ns == 5 and m.rejected == [("x", "bad"), ("y", "worse")]
    assert m.received_at == c.received_at


def test_merge_of_frames_concatenates_in_order():
    f1 = pd.DataFrame({"size": [1, 2]})
    f2 = pd.DataFrame({"size": [3]})
    m = merge_chunks([Chunk(f1, position="1"), Chunk(f2.iloc[:0], clock_ns=9), Chunk(f2, position="3")])
    assert m.frame()["size"].tolist() == [1, 2, 3] and m.position == "3" and m.clock_ns == 9
    assert merge_chunks([Chunk(f1)]).prints is f1
