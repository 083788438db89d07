"""pricing.py against QuantLib's AnalyticEuropeanEngine (test-only oracle) to 1e-10.

Unit mapping: QuantLib theta is per year (ours per calendar day: x365), vega and rho per 1.0
(ours per point: x100). Actual365Fixed with whole-day maturities so T = days / 365 exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from primeflow_lib.pricing import bs_greeks, bs_price, bs_price_one

ql = pytest.importorskip("QuantLib")

SPOTS = (80.0, 100.0, 123.0)
STRIKES = (90.0, 100.0, 110.0)
DAYS = (7, 45, 400)
VOLS = (0.12, 0.35)
RATES = ((0.0, 0.0), (0.05, 0.02), (-0.01, 0.03))


def _ql(s, k, days, v, r, q, call):
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot = ql.QuoteHandle(ql.SimpleQuote(s))
    rts = ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc))
    qts = ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc))
    vts = ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), v, dc))
    proc = ql.BlackScholesMertonProcess(spot, qts, rts, vts)
    opt = ql.VanillaOption(
        ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, k),
        ql.EuropeanExercise(today + days),
    )
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    return opt.NPV(), opt.delta(), opt.gamma(), opt.theta(), opt.vega(), opt.rho()


@pytest.mark.parametrize("call", [True, False])
def test_prices_and_greeks_match_quantlib(call):
    for s, k, d, v, (r, q) in itertools.product(SPOTS, STRIKES, DAYS, VOLS, RATES):
        t = d / 365.0
        g = bs_greeks(s, k, t, v, r, q, call)
        npv, delta, gamma, theta, vega, rho = _ql(s, k, d, v, r, q, call)
        case = (s, k, d, v, r, q, call)
        assert float(g.price) == pytest.approx(npv, abs=1e-10), case
        assert float(g.delta) == pytest.approx(delta, abs=1e-10), case
        assert float(g.gamma) == pytest.approx(gamma, abs=1e-10), case
        assert float(g.theta) * 365.0 == pytest.approx(theta, abs=1e-10 * 365), case
        assert float(g.vega) * 100.0 == pytest.approx(vega, abs=1e-10 * 100), case
        assert float(g.rho) * 100.0 == pytest.approx(rho, abs=1e-10 * 100), case
        assert bs_price_one(s, k, t, v, r, q, call) == pytest.approx(npv, abs=1e-10), case


def test_put_call_parity_on_a_grid():
    s = np.array(SPOTS)[:, None]
    k = np.array(STRIKES)[None, :]
    for d, v, (r, q) in itertools.product(DAYS, VOLS, RATES):
        t = d / 365.0
        c = bs_price(s, k, t, v, r, q, True)
        p = bs_price(s, k, t, v, r, q, False)
        np.testing.assert_allclose(c - p, s * np.exp(-q * t) - k * np.exp(-r * t), atol=1e-11)


def test_scalar_pricer_edge_cases_match_vector():
    for args in ((100.0, 90.0, 0.0, 0.2, 0.0, 0.0), (100.0, 110.0, -0.1, 0.2, 0.0, 0.0),
                 (100.0, 90.0, 0.5, 0.0, 0.05, 0.0)):  # fmt: skip
        for call in (True, False):
            assert bs_price_one(*args, call) == float(bs_price(*args, call))
