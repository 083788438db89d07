"""Option structures as data: each one is a tuple of :class:`Leg` rows, not a class.

A leg says which right (``"C"``/``"P"``), which side (+1 long, -1 short), how many contracts per
structure (``ratio``), how its strike is chosen (``strike``) and which expiry it uses
(``expiry``: ``"front"`` = the expiry nearest the target DTE, ``"back"`` = the one nearest
``target DTE + calendar_gap_days``; only calendars use ``back``).

Strike rules (``Leg.strike``):

==========  ===================================================================================
``anchor``  the run's strike rule (``options.strike_by``): target delta (``short_delta`` for
            short legs, ``long_delta`` for long legs), percent moneyness or dollar offset,
            always on the out-of-the-money side of the right (puts below, calls above spot);
            ``moneyness: 0`` / ``offset: 0`` / delta 0.5 are at the money
``atm``     the listed strike nearest the spot
``same``    the strike of leg ``ref``
``wing``    the strike of leg ``ref`` +/- ``options.width`` (``direction`` +1 above, -1 below),
            snapped to the grid and at least one increment away from leg ``ref``
==========  ===================================================================================

Value conventions: ``signed = side * ratio``; a structure's value per share is
``sum(signed * leg value)``; its *premium* at entry is that sum at the fill prices (> 0 = a debit
paid, < 0 = a credit received).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "SIGNAL_CLASSES",
    "STRUCTURES",
    "Leg",
    "breakevens",
    "expiry_pnl",
    "max_loss_profit",
    "payoff_at_expiry",
]


@dataclass(frozen=True)
class Leg:
    """One leg of a structure (see the module docstring for the strike rules)."""

    right: str  # "C" | "P"
    side: int  # +1 long, -1 short
    strike: str = "anchor"  # anchor | atm | same | wing
    ref: int = -1  # leg index for same / wing
    direction: int = 0  # wing: +1 above ref, -1 below
    expiry: str = "front"  # front | back
    ratio: int = 1

    @property
    def signed(self) -> int:
        """Contracts per structure, signed (negative = short)."""
        return self.side * self.ratio


def _l(right: str, side: int, strike: str = "anchor", ref: int = -1, d: int = 0, exp="front"):
    return Leg(right, side, strike, ref, d, exp)


#: every structure a run can open, by name
STRUCTURES: dict[str, tuple[Leg, ...]] = {
    "long_call": (_l("C", 1),),
    "long_put": (_l("P", 1),),
    "bull_call": (_l("C", 1), _l("C", -1, "wing", 0, 1)),
    "bear_put": (_l("P", 1), _l("P", -1, "wing", 0, -1)),
    "bull_put": (_l("P", -1), _l("P", 1, "wing", 0, -1)),
    "bear_call": (_l("C", -1), _l("C", 1, "wing", 0, 1)),
    "long_straddle": (_l("C", 1, "atm"), _l("P", 1, "same", 0)),
    "short_straddle": (_l("C", -1, "atm"), _l("P", -1, "same", 0)),
    "long_strangle": (_l("P", 1), _l("C", 1)),
    "short_strangle": (_l("P", -1), _l("C", -1)),
    "iron_condor": (_l("P", -1), _l("P", 1, "wing", 0, -1), _l("C", -1), _l("C", 1, "wing", 2, 1)),
    "iron_butterfly": (
        _l("P", -1, "atm"),
        _l("C", -1, "same", 0),
        _l("P", 1, "wing", 0, -1),
        _l("C", 1, "wing", 1, 1),
    ),
    "call_calendar": (_l("C", -1, "atm"), _l("C", 1, "same", 0, exp="back")),
    "put_calendar": (_l("P", -1, "atm"), _l("P", 1, "same", 0, exp="back")),
}

#: the three signal classes a structure map keys on
SIGNAL_CLASSES = ("bullish", "bearish", "neutral")

MAX_LEGS = max(len(v) for v in STRUCTURES.values())


def _intrinsic(spots: np.ndarray, strikes, rights) -> np.ndarray:
    s = np.asarray(spots, dtype=np.float64)[..., None]
    k = np.asarray(strikes, dtype=np.float64)
    call = np.asarray([r == "C" for r in rights])
    return np.where(call, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))


def payoff_at_expiry(spots, strikes, rights, signed) -> np.ndarray:
    """Value per share of one structure at expiry for each underlying price in ``spots``
    (all legs expiring together): ``sum(signed * intrinsic)``, USD per share."""
    return _intrinsic(spots, strikes, rights) @ np.asarray(signed, dtype=np.float64)


def expiry_pnl(spots, strikes, rights, signed, premium: float) -> np.ndarray:
    """Profit per share at expiry: payoff - ``premium`` (premium > 0 = debit paid)."""
    return payoff_at_expiry(spots, strikes, rights, signed) - float(premium)


def max_loss_profit(strikes, rights, signed, premium: float) -> tuple[float, float]:
    """(max loss, max profit) per share at expiry, both >= 0 (``inf`` when unbounded).

    The payoff is piecewise linear with kinks at the strikes, so the extremes are at a spot of
    0, at a strike, or at infinity (slope = the sum of signed call contracts)."""
    k = np.asarray(strikes, dtype=np.float64)
    grid = np.concatenate([[0.0], np.unique(k)])
    pnl = expiry_pnl(grid, strikes, rights, signed, premium)
    slope = float(sum(s for s, r in zip(signed, rights, strict=True) if r == "C"))
    lo, hi = float(pnl.min()), float(pnl.max())
    loss = np.inf if slope < 0 else max(-lo, 0.0)
    profit = np.inf if slope > 0 else max(hi, 0.0)
    return loss, profit


def breakevens(strikes, rights, signed, premium: float) -> list[float]:
    """Underlying prices at which the expiry P&L is zero (sorted; linear pieces solved exactly)."""
    k = np.unique(np.asarray(strikes, dtype=np.float64))
    top = float(k[-1]) * 4.0 + 1.0
    grid = np.concatenate([[0.0], k, [top]])
    pnl = expiry_pnl(grid, strikes, rights, signed, premium)
    out: list[float] = []
    for i in range(len(grid) - 1):
        a, b = pnl[i], pnl[i + 1]
        if a == 0.0 and (not out or out[-1] != grid[i]):
            out.append(float(grid[i]))
        elif a * b < 0.0:
            out.append(float(grid[i] + (grid[i + 1] - grid[i]) * a / (a - b)))
    if pnl[-1] == 0.0:
        out.append(float(grid[-1]))
    return out
