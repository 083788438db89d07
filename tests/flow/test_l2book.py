"""The L2 book: the real Databento XNAS.ITCH files (MBO replay equals the MBP-10 levels of the
same events) and constructed books (never crossed after an event, resync on sequence gaps,
snapshot + replay equals replaying everything, OFI by hand)."""

from __future__ import annotations

import os
from pathlib import Path

import databento_dbn as dbn
import pytest

from primeflow_lib.flow.l2book import (
    F_LAST,
    F_SNAPSHOT,
    BookError,
    MBOBook,
    book_features,
    mbp10_levels,
    ofi_by_interval,
    ofi_event,
    read_dbn,
    replay,
)

REAL = Path(os.environ.get("PRIMEFLOW_REAL_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "real-data"))
XNAS = REAL / "databento" / "XNAS.ITCH"
USD = 1_000_000_000


def real_files():
    if not (XNAS / "test_data.mbo.dbn.zst").is_file():
        if os.environ.get("PRIMEFLOW_CI"):
            pytest.fail(f"CI must have the real-data folder: {XNAS} is missing", pytrace=False)
        pytest.skip(f"real Databento files not found under {XNAS} (set PRIMEFLOW_REAL_DATA)")
    return read_dbn(XNAS / "test_data.mbo.dbn.zst"), read_dbn(XNAS / "test_data.mbp-10.dbn.zst")


def mbo(seq, action, side="NONE", price=0.0, size=0, oid=0, flags=F_LAST, ts=None):
    return dbn.MBOMsg(publisher_id=2, instrument_id=1, ts_event=ts or seq * 1_000_000, ts_recv=seq,
                      order_id=oid, price=int(round(price * USD)) if price else dbn.UNDEF_PRICE,
                      size=size, action=getattr(dbn.Action, action), side=getattr(dbn.Side, side),
                      flags=flags, sequence=seq)


def test_real_mbo_replay_equals_the_mbp10_levels_of_the_same_events():
    (meta, mbo_recs), (_, mbp_recs) = real_files()
    assert meta.symbols == ["NVDA"] and len(mbo_recs) == len(mbp_recs) == 4
    want = {r.sequence: mbp10_levels(r) for r in mbp_recs}
    book = MBOBook()
    seen = [(rec.sequence, lv) for rec, lv in replay(mbo_recs, book)]
    assert [s for s, _ in seen] == sorted(want) and not book.issues
    for seq, lv in seen:
        assert lv == want[seq]
    b, a = book.levels()
    assert b[0] == (512_010_000_000, 1) and a[0] == (539_000_000_000, 17)


def test_real_snapshot_plus_replay_equals_the_later_mbp10_snapshot():
    (_, mbo_recs), (_, mbp_recs) = real_files()
    book = MBOBook()
    for rec in mbo_recs[:2]:
        book.apply(rec)
    restored = MBOBook.restore(book.snapshot())
    for rec in mbo_recs[2:]:
        restored.apply(rec)
    assert restored.levels() == mbp10_levels(mbp_recs[-1])


BOOK = [
    mbo(1, "ADD", "BID", 100.00, 10, oid=1),
    mbo(2, "ADD", "BID", 100.00, 5, oid=2),
    mbo(3, "ADD", "ASK", 100.05, 7, oid=3),
    mbo(4, "ADD", "BID", 99.99, 4, oid=4),
    mbo(5, "CANCEL", "BID", 100.00, 4, oid=1),  # partial: order 1 keeps 6
    mbo(6, "MODIFY", "ASK", 100.04, 7, oid=3),  # better ask, loses priority
    mbo(7, "TRADE", "ASK", 100.00, 3, oid=0),  # no book change ...
    mbo(8, "FILL", "BID", 100.00, 3, oid=2, flags=0),
    mbo(9, "CANCEL", "BID", 100.00, 3, oid=2),  # ... the cancel after the fill does it
]


def test_constructed_book_follows_add_cancel_modify_and_ignores_trades_and_fills():
    book = MBOBook(contiguous=True, strict=True)
    for r in BOOK:
        book.apply(r)
    b, a = book.levels()
    assert b == [(100_000_000_000, 8), (99_990_000_000, 4)] and a == [(100_040_000_000, 7)]
    assert book.queue[("B", 100_000_000_000)] == [1, 2]


def test_snapshot_plus_replay_equals_replaying_everything():
    full = MBOBook(contiguous=True)
    for r in BOOK:
        full.apply(r)
    for cut in range(1, len(BOOK)):
        part = MBOBook(contiguous=True)
        for r in BOOK[:cut]:
            part.apply(r)
        again = MBOBook.restore(part.snapshot(), contiguous=True)
        for r in BOOK[cut:]:
            again.apply(r)
        assert again.levels() == full.levels() and again.snapshot() == full.snapshot()


def test_a_crossing_event_is_never_left_in_the_book():
    book = MBOBook()
    book.apply(mbo(1, "ADD", "BID", 100.0, 1, oid=1))
    book.apply(mbo(2, "ADD", "ASK", 99.0, 1, oid=2, flags=0))  # mid-event: not examined yet
    assert not book.issues
    assert book.apply(mbo(3, "ADD", "ASK", 101.0, 1, oid=3)) is False  # F_LAST: crossed
    assert "crossed book" in book.issues[0].reason and not book.bids and not book.asks
    with pytest.raises(BookError, match="sequence 3: crossed book"):
        s = MBOBook(strict=True)
        for r in (mbo(1, "ADD", "BID", 100.0, 1, oid=1), mbo(2, "ADD", "ASK", 99.0, 1, oid=2, flags=0),
                  mbo(3, "ADD", "ASK", 101.0, 1, oid=3)):
            s.apply(r)


def test_sequence_gap_desyncs_until_a_clear_and_snapshot_resynchronise():
    book = MBOBook(contiguous=True)
    book.apply(mbo(1, "ADD", "BID", 100.0, 5, oid=1))
    assert book.apply(mbo(5, "ADD", "ASK", 100.1, 5, oid=2)) is False  # 2..4 missed
    assert "sequence gap: 1 -> 5 (3 missed)" in book.issues[0].reason and not book.synced
    assert book.apply(mbo(6, "ADD", "BID", 99.0, 5, oid=9)) is False and not book.bids  # ignored
    snap = [mbo(0, "CLEAR", flags=F_SNAPSHOT), mbo(0, "ADD", "BID", 100.0, 5, oid=1, flags=F_SNAPSHOT),
            mbo(0, "ADD", "ASK", 100.1, 5, oid=2, flags=F_SNAPSHOT | F_LAST)]
    for r in snap:
        book.apply(r)
    assert book.synced and book.levels() == ([(100_000_000_000, 5)], [(100_100_000_000, 5)])
    assert book.apply(mbo(7, "CANCEL", "BID", 100.0, 5, oid=1)) is True
    assert book.levels()[0] == []


def test_unknown_orders_and_backward_sequences_mark_the_book_out_of_sync():
    book = MBOBook()
    book.apply(mbo(10, "CANCEL", "BID", 100.0, 5, oid=77))
    assert "cancel of unknown order 77" in book.issues[-1].reason
    book = MBOBook()
    book.apply(mbo(10, "ADD", "BID", 100.0, 5, oid=1))
    book.apply(mbo(9, "ADD", "BID", 100.0, 5, oid=2))
    assert "sequence went from 10 to 9" in book.issues[-1].reason


def test_ofi_by_hand_and_features_per_interval():
    # bid up with 5 shares: +5; ask unchanged, size 7 -> 4 (cancel at the ask): +3 (= 7 - 4)
    assert ofi_event((100.0, 10, 100.05, 7), (100.01, 5, 100.05, 4)) == pytest.approx(5 + 3)
    # bid price down: the old 10 shares left -> -10
    assert ofi_event((100.0, 10, 100.05, 7), (99.99, 4, 100.05, 7)) == pytest.approx(-10)
    book = MBOBook()
    states = [(r.ts_event, lv) for r, lv in replay(BOOK, book)]
    f = book_features(states, k=5)
    assert (f["spread"].dropna() > 0).all() and f["depth_imbalance_5"].between(-1, 1).all()
    per = ofi_by_interval(f, "1s")
    assert per["ofi"].sum() == pytest.approx(f["ofi"].sum())


def test_missing_or_bad_dbn_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="DBN file not found"):
        read_dbn(tmp_path / "nope.dbn")
    bad = tmp_path / "bad.dbn"
    bad.write_bytes(b"not dbn at all")
    with pytest.raises(ValueError, match="not a readable DBN file"):
        read_dbn(bad)
