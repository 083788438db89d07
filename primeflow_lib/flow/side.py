"""Aggressor side of option prints from the NBBO in force at the print.

Labels (the Cheddar Flow scheme), with ``x = (price - bid) / (ask - bid)``:

============  =============================================  ===========  ==========
label         rule                                           direction    confidence
============  =============================================  ===========  ==========
above_ask     price > ask                                    buy          high
ask           price == ask                                   buy          high
to_ask        bid < price < ask and x > 0.5 + mid_band       buy          medium
mid           0.5 - mid_band <= x <= 0.5 + mid_band          neutral      medium
to_bid        bid < price < ask and x < 0.5 - mid_band       sell         medium
bid           price == bid                                   sell         high
below_bid     price < bid                                    sell         high
============  =============================================  ===========  ==========

``mid_band`` is ``flow.mid_band`` (default 0.1: the middle 20 % of the spread is "mid"). Prices
are compared to the quote with a tolerance of :data:`PRICE_EPS` (USD) so that binary floating
point never turns an at-ask print into to-ask.

**No usable quote** (bid or ask missing, not finite, ask <= 0, bid < 0, or the quote crossed or
locked: ``bid >= ask``): the side comes from the **tick rule** against the previous kept print of
the same contract in time order: uptick -> ``to_ask``, downtick -> ``to_bid``, same price -> the
previous tick's direction, first print of the contract -> ``mid``. Such prints get confidence
``low``. The tick rule is applied inside :mod:`primeflow_lib.flow.classify` because it needs the
contract's print sequence.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

SIDE_LABELS: tuple[str, ...] = ("above_ask", "ask", "to_ask", "mid", "to_bid", "bid", "below_bid")
ABOVE_ASK, ASK, TO_ASK, MID, TO_BID, BID, BELOW_BID = range(7)
CONFIDENCE_LABELS: tuple[str, ...] = ("low", "medium", "high")
LOW, MEDIUM, HIGH = range(3)
#: labels that count as buying (the buyer crossed toward the ask) / selling
BUY_SIDES = frozenset({"above_ask", "ask", "to_ask"})
SELL_SIDES = frozenset({"bid", "below_bid", "to_bid"})
#: labels at or beyond the touch: the aggressive ones
AGGRESSIVE_SIDES = frozenset({"above_ask", "ask", "bid", "below_bid"})
PRICE_EPS = 1e-6


def direction_of_code(code: np.ndarray) -> np.ndarray:
    """+1 for buy labels (codes 0-2), 0 for mid, -1 for sell labels (4-6)."""
    code = np.asarray(code)
    return np.where(code < MID, 1, np.where(code > MID, -1, 0)).astype(np.int8)


def valid_quote(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """True where the quote can label a print: both finite, ``bid >= 0``, ``ask > 0`` and
    ``bid < ask``."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(bid) & np.isfinite(ask) & (bid >= 0) & (ask > 0) & (bid < ask)


def quote_side(
    price: np.ndarray, bid: np.ndarray, ask: np.ndarray, mid_band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Label prints against their quote (vectorised).

    Returns:
        ``(code, confidence)`` int8 arrays: ``code`` indexes :data:`SIDE_LABELS`, -1 where the
        quote is unusable (the caller falls back to the tick rule); ``confidence`` indexes
        :data:`CONFIDENCE_LABELS` (``high`` at or beyond the touch, ``medium`` inside the spread).
    """
    price = np.ascontiguousarray(price, dtype=np.float64)
    bid = np.ascontiguousarray(bid, dtype=np.float64)
    ask = np.ascontiguousarray(ask, dtype=np.float64)
    return _quote_side(price, bid, ask, float(mid_band), PRICE_EPS)


@numba.njit(cache=True)
def _quote_side(price, bid, ask, band, eps):  # pragma: no cover - compiled
    n = price.shape[0]
    code = np.full(n, -1, np.int8)
    conf = np.zeros(n, np.int8)
    for i in range(n):
        p, b, a = price[i], bid[i], ask[i]
        if not (np.isfinite(b) and np.isfinite(a) and b >= 0.0 and a > 0.0 and b < a):
            continue
        if p > a + eps:
            c = ABOVE_ASK
        elif p >= a - eps:
            c = ASK
        elif p < b - eps:
            c = BELOW_BID
        elif p <= b + eps:
            c = BID
        else:
            x = (p - b) / (a - b)
            c = TO_ASK if x > 0.5 + band else (TO_BID if x < 0.5 - band else MID)
        code[i] = c
        conf[i] = HIGH if c != TO_ASK and c != MID and c != TO_BID else MEDIUM
    return code, conf


def attach_nbbo(prints: pd.DataFrame, quotes: pd.DataFrame) -> pd.DataFrame:
    """Fill ``bid``/``ask`` on prints from a quote stream: the last quote of the same contract with
    ``sip_timestamp`` strictly before the print's (the NBBO in force just before the trade).

    Args:
        prints: frame with ``option_symbol`` and ``sip_timestamp`` (int ns).
        quotes: frame with ``option_symbol``, ``sip_timestamp``, ``bid_price``, ``ask_price``
            (the ``/v3/quotes/{optionsTicker}`` field names) or ``bid``/``ask``.

    Returns:
        A copy of ``prints`` (same row order) with ``bid``/``ask`` set; prints with no earlier
        quote get nulls (and so the tick rule, low confidence, downstream).
    """
    q = quotes.rename(columns={"bid_price": "bid", "ask_price": "ask"})
    q = q[["option_symbol", "sip_timestamp", "bid", "ask"]].copy()
    q["sip_timestamp"] = q["sip_timestamp"].astype(np.int64)
    p = prints.drop(columns=[c for c in ("bid", "ask") if c in prints.columns]).copy()
    p["_pos"] = np.arange(len(p))
    p["sip_timestamp"] = p["sip_timestamp"].astype(np.int64)
    merged = pd.merge_asof(
        p.sort_values("sip_timestamp"),
        q.sort_values("sip_timestamp"),
        on="sip_timestamp",
        by="option_symbol",
        direction="backward",
        allow_exact_matches=False,
    )
    return merged.sort_values("_pos").drop(columns="_pos").reset_index(drop=True)
