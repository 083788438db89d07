"""Option structures at expiry (hand-computed credits, max loss, breakevens) and the listed
expiry calendar around holidays."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.options import contracts as ct
from primeflow_lib.research.options.structures import (
    STRUCTURES,
    breakevens,
    max_loss_profit,
    payoff_at_expiry,
)


def _legs(name):
    legs = STRUCTURES[name]
    return [leg.right for leg in legs], [leg.signed for leg in legs]


def test_bull_put_credit_vertical():
    rights, signed = _legs("bull_put")  # short 95 put, long 90 put
    strikes = [95.0, 90.0]
    credit = -1.5  # premium < 0 = credit received
    assert payoff_at_expiry([100.0, 95.0, 92.0, 80.0], strikes, rights, signed).tolist() == [
        0.0, 0.0, -3.0, -5.0,
    ]  # fmt: skip
    loss, profit = max_loss_profit(strikes, rights, signed, credit)
    assert loss == pytest.approx(3.5) and profit == pytest.approx(1.5)
    assert breakevens(strikes, rights, signed, credit) == [pytest.approx(93.5)]


def test_bull_call_debit_vertical_and_long_call():
    rights, signed = _legs("bull_call")  # long 100 call, short 105 call
    loss, profit = max_loss_profit([100.0, 105.0], rights, signed, 2.0)
    assert (loss, profit) == (pytest.approx(2.0), pytest.approx(3.0))
    assert breakevens([100.0, 105.0], rights, signed, 2.0) == [pytest.approx(102.0)]
    r1, s1 = _legs("long_call")
    assert max_loss_profit([100.0], r1, s1, 4.0) == (pytest.approx(4.0), np.inf)


def test_iron_condor_and_butterfly():
    rights, signed = _legs("iron_condor")  # short 95P, long 90P, short 105C, long 110C
    strikes = [95.0, 90.0, 105.0, 110.0]
    credit = -2.0
    assert payoff_at_expiry([100.0, 85.0, 120.0], strikes, rights, signed).tolist() == [
        0.0, -5.0, -5.0,
    ]  # fmt: skip
    assert max_loss_profit(strikes, rights, signed, credit) == (
        pytest.approx(3.0), pytest.approx(2.0),
    )  # fmt: skip
    assert breakevens(strikes, rights, signed, credit) == [
        pytest.approx(93.0), pytest.approx(107.0),
    ]  # fmt: skip
    rb, sb = _legs("iron_butterfly")  # short 100P, short 100C, long 95P, long 105C
    assert max_loss_profit([100.0, 100.0, 95.0, 105.0], rb, sb, -3.5) == (
        pytest.approx(1.5), pytest.approx(3.5),
    )  # fmt: skip


def test_straddles_and_strangles():
    r, s = _legs("long_straddle")
    assert breakevens([100.0, 100.0], r, s, 6.0) == [pytest.approx(94.0), pytest.approx(106.0)]
    assert max_loss_profit([100.0, 100.0], r, s, 6.0) == (pytest.approx(6.0), np.inf)
    r, s = _legs("short_strangle")
    loss, profit = max_loss_profit([95.0, 105.0], r, s, -2.0)
    assert loss == np.inf and profit == pytest.approx(2.0)


def test_every_structure_is_well_formed():
    for name, legs in STRUCTURES.items():
        for j, leg in enumerate(legs):
            assert leg.right in ("C", "P") and leg.side in (1, -1), name
            if leg.strike in ("same", "wing"):
                assert 0 <= leg.ref < j, name
    assert {leg.expiry for leg in STRUCTURES["put_calendar"]} == {"front", "back"}


def test_monthly_expiries_move_off_holidays():
    ex = ct.listed_expiries(dt.date(2022, 1, 1), dt.date(2022, 12, 31), "monthly")
    # 2022-06-17 is a session (Juneteenth observed on Monday 2022-06-20); third Fridays
    assert np.datetime64("2022-06-17") in ex and len(ex) == 12
    # Good Friday 2025-04-18 is the third Friday of April: expiry moves to Thursday 04-17
    ex25 = ct.listed_expiries(dt.date(2025, 4, 1), dt.date(2025, 4, 30), "monthly")
    assert ex25.tolist() == [dt.date(2025, 4, 17)]


def test_weekly_expiries_around_juneteenth_and_good_friday():
    # Juneteenth 2026 falls on a Friday (2026-06-19): that weekly expiry is Thursday 06-18
    ex = ct.listed_expiries(dt.date(2026, 6, 8), dt.date(2026, 6, 28), "weekly")
    assert ex.tolist() == [dt.date(2026, 6, 12), dt.date(2026, 6, 18), dt.date(2026, 6, 26)]
    # Good Friday 2023-04-07
    ex = ct.listed_expiries(dt.date(2023, 4, 3), dt.date(2023, 4, 14), "weekly")
    assert ex.tolist() == [dt.date(2023, 4, 6), dt.date(2023, 4, 14)]


def test_choose_expiry_nearest_and_first_after():
    ex = ct.listed_expiries(dt.date(2024, 1, 1), dt.date(2024, 12, 31), "monthly")
    dec = np.array(["2024-01-02"], dtype="datetime64[D]")
    fill = np.array(["2024-01-03"], dtype="datetime64[D]")
    # target 2024-02-16 + 0: monthly Feb expiry is 2024-02-16 exactly
    assert ct.choose_expiry(dec, fill, 45, "nearest", ex)[0] == np.datetime64("2024-02-16")
    # target 2024-02-21: nearest is 02-16 (5 days) vs 03-15; first_after is 03-15
    assert ct.choose_expiry(dec, fill, 50, "nearest", ex)[0] == np.datetime64("2024-02-16")
    assert ct.choose_expiry(dec, fill, 50, "first_after", ex)[0] == np.datetime64("2024-03-15")
    # an expiry is always after the fill session
    late = np.array(["2024-01-18"], dtype="datetime64[D]")
    late_fill = np.array(["2024-01-19"], dtype="datetime64[D]")
    assert ct.choose_expiry(late, late_fill, 1, "nearest", ex)[0] == np.datetime64("2024-02-16")


def test_expiry_beyond_the_calendar_is_an_error():
    with pytest.raises(RunConfigError, match="beyond the trading calendar"):
        ct.listed_expiries(dt.date(2027, 6, 1), dt.date(2029, 1, 1), "monthly")


def test_strike_grid_and_delta_strike():
    inc = ct.strike_increment(np.array([10.0, 24.99, 25.0, 150.0, 450.0]))
    assert inc.tolist() == [0.5, 0.5, 1.0, 1.0, 5.0]
    assert ct.snap(np.array([452.4, 453.0]), np.array([5.0, 5.0])).tolist() == [450.0, 455.0]
    from primeflow_lib.pricing import bs_greeks

    for call, delta in ((True, 0.3), (False, 0.25)):
        k = ct.strike_for_delta(100.0, delta, 0.2, 0.25, 0.03, 0.01, call)
        d = float(bs_greeks(100.0, k, 0.2, 0.25, 0.03, 0.01, call).delta)
        assert abs(d) == pytest.approx(delta, abs=1e-12)
