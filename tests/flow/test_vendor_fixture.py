"""The real Massive response shapes (tests/fixtures/massive/) classified as documented."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.side import attach_nbbo

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "massive"
CONTRACT = "O:SPY251219C00650000"


def load_prints() -> pd.DataFrame:
    """Trades pages 1 + 2 -> flow.option_prints rows, NBBO from the quotes file (the last quote
    strictly before each trade)."""
    results = []
    for page in ("page1", "page2"):
        body = json.loads((FIX / f"options_trades_O_SPY251219C00650000_{page}.json").read_text())
        results += body["results"]
    rows = []
    for seq, r in enumerate(results):
        conds = ",".join(str(c) for c in r.get("conditions", []))
        sip = int(r["sip_timestamp"])
        key = f"{CONTRACT}|{sip}|{r['exchange']}|{r['price']}|{r['size']}|{conds}|{seq}"
        rows.append(
            {
                "trade_date": pd.Timestamp("2025-06-13"),
                "print_id": hashlib.sha1(key.encode()).hexdigest()[:16],
                "option_symbol": CONTRACT,  # the O: prefix is accepted and normalised
                "underlying": "SPY",
                "sip_ts": pd.Timestamp(sip, unit="ns", tz="UTC")
                .tz_convert("America/New_York")
                .tz_localize(None),
                "sip_timestamp": sip,
                "exchange": int(r["exchange"]),
                "price": float(r["price"]),
                "size": int(r["size"]),
                "conditions": conds,
                "correction": r.get("correction"),
                "seq": seq,
                "vendor": "massive",
            }
        )
    prints = pd.DataFrame(rows)
    quotes = pd.DataFrame(
        json.loads((FIX / "options_quotes_O_SPY251219C00650000.json").read_text())["results"]
    )
    quotes["option_symbol"] = CONTRACT
    return attach_nbbo(prints, quotes)


@pytest.fixture(scope="module")
def result():
    from primeflow_lib.config import default_config

    return score_batch(load_prints(), None, None, None, default_config(), source="fixture")


def test_fixture_rows(result):
    assert result.stats["prints"]["in"] == 11
    assert len(result.quarantine) == 0
    ev = result.events
    assert set(ev.option_symbol) == {"SPY251219C00650000"}
    assert list(ev.event_type) == ["sweep", "single", "block", "multileg", "single", "single"]


def test_four_venue_sweep(result):
    sw = result.events.iloc[0]
    assert sw.event_type == "sweep" and sw.n_exchanges == 4 and sw.n_prints == 4
    assert sw["size"] == 175 and sw.premium == pytest.approx(323_750.0)
    assert (sw.side, sw.sentiment, bool(sw.has_iso)) == ("ask", "bullish", True)


def test_cross_block_at_the_bid(result):
    b = result.events.iloc[2]
    assert b.event_type == "block" and b["size"] == 1200
    assert (b.side, b.sentiment) == ("bid", "bearish")


def test_multileg_is_neutral(result):
    m = result.events.iloc[3]
    assert m.event_type == "multileg" and m.sentiment == "neutral" and bool(m.non_directional)


def test_cancel_removes_the_floor_print(result):
    st = result.stats["prints"]
    assert st["cancels"] == 1 and st["cancelled_prints"] == 1 and st["cancels_unmatched"] == 0
    assert 500 not in set(result.events["size"])  # the 231 floor print and its 201 cancel


def test_late_print_is_volume_only(result):
    late = result.events[result.events.is_late]
    assert len(late) == 1 and late["size"].iloc[0] == 10 and late.side.iloc[0] == "to_bid"
    # day volume counts everything kept: 175 + 3 + 1200 + 250 + 10 + 2
    assert result.events.day_volume.iloc[-1] == 1640


def test_print_without_conditions_above_ask(result):
    last = result.events.iloc[-1]
    assert (last.side, last.side_confidence, last.event_type) == ("above_ask", "high", "single")


def test_mid_print(result):
    assert result.events.iloc[1].side == "mid"
