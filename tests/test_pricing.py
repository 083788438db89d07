"""Black-Scholes pricer: textbook values, parity, greeks vs finite differences, IV round trip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from primeflow_lib import pricing
from primeflow_lib.pricing import Greeks, bs_greeks, bs_price, implied_vol


def _reference(s, k, t, v, r, q, call):
    """Plain scipy implementation (independent of the compiled kernels)."""
    s, k, t, v, r, q = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (s, k, t, v, r, q))
    )
    d1 = (np.log(s / k) + (r - q + 0.5 * v * v) * t) / (v * np.sqrt(t))
    d2 = d1 - v * np.sqrt(t)
    c = s * np.exp(-q * t) * ndtr(d1) - k * np.exp(-r * t) * ndtr(d2)
    p = k * np.exp(-r * t) * ndtr(-d2) - s * np.exp(-q * t) * ndtr(-d1)
    return np.where(call, c, p)


def _grid(n=20_000, seed=1):
    rng = np.random.default_rng(seed)
    s = rng.uniform(5, 800, n)
    return {
        "spot": s,
        "strike": s * np.exp(rng.normal(0, 0.25, n)),
        "years": rng.uniform(1 / 365, 3.0, n),
        "vol": rng.uniform(0.05, 1.5, n),
        "rate": rng.uniform(-0.01, 0.08, n),
        "div_yield": rng.uniform(0.0, 0.05, n),
        "is_call": rng.random(n) < 0.5,
    }


def test_hull_call_and_put():
    # Hull, Options Futures and Other Derivatives: S=42, K=40, r=10 %, sigma=20 %, T=0.5
    assert float(bs_price(42, 40, 0.5, 0.2, 0.10, is_call="C")) == pytest.approx(4.7594, abs=1e-4)
    assert float(bs_price(42, 40, 0.5, 0.2, 0.10, is_call="P")) == pytest.approx(0.8086, abs=1e-4)


def test_hull_greeks_example():
    # Hull's greeks example: S=49, K=50, r=5 %, sigma=20 %, T=20 weeks, European call
    g = bs_greeks(49.0, 50.0, 20 / 52, 0.20, 0.05, 0.0, True)
    assert float(g.price) == pytest.approx(2.40, abs=0.005)
    assert float(g.delta) == pytest.approx(0.522, abs=5e-4)
    assert float(g.gamma) == pytest.approx(0.066, abs=5e-4)
    assert float(g.theta) * 365 == pytest.approx(-4.31, abs=0.01)  # Hull quotes per year
    assert float(g.vega) * 100 == pytest.approx(12.1, abs=0.05)  # Hull quotes per 1.00 of vol
    assert float(g.rho) * 100 == pytest.approx(8.91, abs=0.01)  # Hull quotes per 1.00 of rate


def test_dividend_yield_textbook_value():
    # Haug, The Complete Guide to Option Pricing Formulas (generalised BSM example):
    # S=100, K=95, T=0.5, r=10 %, q=5 %, sigma=20 % -> put 2.4648
    assert float(bs_price(100, 95, 0.5, 0.2, 0.10, 0.05, is_call=False)) == pytest.approx(
        2.4648, abs=1e-4
    )


def test_matches_independent_reference_on_wide_grid():
    x = _grid()
    ours = bs_price(**x)
    ref = _reference(
        x["spot"], x["strike"], x["years"], x["vol"], x["rate"], x["div_yield"], x["is_call"]
    )
    assert np.allclose(ours, ref, rtol=1e-11, atol=1e-11 * x["spot"])
    g = bs_greeks(**x)
    assert np.allclose(g.price, ours, rtol=1e-13, atol=1e-13 * x["spot"])


def test_put_call_parity():
    x = _grid()
    x.pop("is_call")
    c = bs_price(**x, is_call=True)
    p = bs_price(**x, is_call=False)
    fwd = x["spot"] * np.exp(-x["div_yield"] * x["years"]) - x["strike"] * np.exp(
        -x["rate"] * x["years"]
    )
    assert np.max(np.abs(c - p - fwd) / x["spot"]) < 1e-12
    gc = bs_greeks(**x, is_call=True)
    gp = bs_greeks(**x, is_call=False)
    # delta_c - delta_p = e^-qT; gamma and vega equal
    assert np.allclose(gc.delta - gp.delta, np.exp(-x["div_yield"] * x["years"]), atol=1e-12)
    assert np.allclose(gc.gamma, gp.gamma, rtol=1e-12, atol=1e-15)
    assert np.allclose(gc.vega, gp.vega, rtol=1e-12, atol=1e-15)


def test_greeks_match_finite_differences():
    rng = np.random.default_rng(5)
    n = 4000
    s = rng.uniform(20, 400, n)
    x = {
        "spot": s,
        "strike": s * rng.uniform(0.7, 1.3, n),
        "years": rng.uniform(0.05, 2.0, n),
        "vol": rng.uniform(0.1, 0.9, n),
        "rate": rng.uniform(0.0, 0.06, n),
        "div_yield": rng.uniform(0.0, 0.04, n),
        "is_call": rng.random(n) < 0.5,
    }
    g = bs_greeks(**x)

    def bumped(name, h):
        up = dict(x, **{name: x[name] + h})
        dn = dict(x, **{name: x[name] - h})
        return bs_price(**up), bs_price(**dn)

    hs = 1e-5 * s
    up, dn = bumped("spot", hs)
    assert np.allclose(g.delta, (up - dn) / (2 * hs), atol=1e-7)
    hs = 1e-3 * s
    up, dn = bumped("spot", hs)
    assert np.allclose(g.gamma, (up - 2 * g.price + dn) / hs**2, rtol=1e-3, atol=1e-6)
    up, dn = bumped("vol", 1e-5)
    assert np.allclose(g.vega, (up - dn) / (2e-5) * 0.01, rtol=1e-5, atol=1e-8)
    up, dn = bumped("rate", 1e-5)
    assert np.allclose(g.rho, (up - dn) / (2e-5) * 0.01, rtol=1e-5, atol=1e-8)
    up, dn = bumped("years", 1e-5)
    # theta: value change per calendar day as time passes (expiry gets closer)
    assert np.allclose(g.theta, -(up - dn) / (2e-5) / 365.0, rtol=1e-4, atol=1e-8)


def test_deep_tails_are_accurate():
    # far out of the money: tiny prices must keep their relative accuracy
    k = np.array([150.0, 200.0, 60.0, 40.0])
    calls = np.array([True, True, False, False])
    ours = bs_price(100.0, k, 0.25, 0.3, 0.03, 0.01, calls)
    ref = _reference(100.0, k, 0.25, 0.3, 0.03, 0.01, calls)
    assert np.all(ours > 0)
    assert np.allclose(ours, ref, rtol=1e-9)


def test_expired_and_zero_vol_and_nan():
    g = bs_greeks([110, 90, 100], 100, 0.0, 0.3, 0.05, 0.0, [True, True, False])
    assert list(g.price) == [10.0, 0.0, 0.0]
    assert list(g.delta) == [1.0, 0.0, -0.5]
    assert not np.any(g.gamma) and not np.any(g.vega) and not np.any(g.theta)
    # no volatility: discounted forward intrinsic value
    z = bs_greeks(100.0, 90.0, 1.0, 0.0, 0.05, 0.0, True)
    assert float(z.price) == pytest.approx(100 - 90 * np.exp(-0.05))
    assert float(z.delta) == pytest.approx(1.0)
    assert float(bs_price(100.0, 120.0, 1.0, 0.0, 0.05, 0.0, True)) == 0.0
    bad = bs_greeks([np.nan, 100, 100], [100, -5, 100], 0.5, [0.2, 0.2, np.nan])
    for arr in bad:
        assert np.isnan(arr).all()


def test_broadcasting_shapes_and_rights():
    strikes = np.array([[90.0, 100.0, 110.0], [95.0, 105.0, 115.0]])
    p = bs_price(100.0, strikes, 0.5, 0.25, 0.02, 0.0, "C")
    assert p.shape == (2, 3)
    assert np.all(np.diff(p, axis=1) < 0)  # calls get cheaper with the strike
    assert bs_price(100.0, 100.0, 0.5, 0.25).shape == ()
    rights = np.array(["C", "P", "call", "put"], dtype=object)
    r = bs_price(100.0, 100.0, 0.5, 0.25, 0.0, 0.0, rights)
    assert (
        r[0] == pytest.approx(r[2]) and r[1] == pytest.approx(r[3]) and r[0] == pytest.approx(r[1])
    )
    with pytest.raises(ValueError, match="is_call"):
        bs_price(100.0, 100.0, 0.5, 0.25, is_call=["X"])


def test_large_arrays_use_the_parallel_path_with_same_results():
    n = pricing._SERIAL_MAX * 3 + 17
    x = _grid(n, seed=9)
    whole = bs_greeks(**x)
    chunks = [bs_greeks(**{k: v[i : i + 1000] for k, v in x.items()}) for i in range(0, n, 1000)]
    for name in Greeks._fields:
        assert np.array_equal(
            getattr(whole, name), np.concatenate([getattr(c, name) for c in chunks])
        )
    out = Greeks(*(np.empty(n) for _ in range(6)))
    again = bs_greeks(**x, out=out)
    assert again.price is not None and np.array_equal(out.delta, whole.delta)
    with pytest.raises(ValueError, match="out must"):
        bs_greeks(**x, out=Greeks(*(np.empty(3) for _ in range(6))))


def test_serial_twins_match_the_parallel_kernels_bit_for_bit():
    # small inputs run the serial twin, large ones the parallel kernel: same numbers either way
    n = pricing._SERIAL_MAX * 2 + 5
    x = _grid(n, seed=11)
    big = bs_greeks(**x)
    small = [bs_greeks(**{k: v[i : i + 4000] for k, v in x.items()}) for i in range(0, n, 4000)]
    for name in Greeks._fields:
        assert np.array_equal(
            getattr(big, name), np.concatenate([getattr(c, name) for c in small]), equal_nan=True
        )
    args = (x["spot"], x["strike"], x["years"], x["vol"], x["rate"], x["div_yield"], x["is_call"])
    price = bs_price(*args)
    assert np.array_equal(
        price, np.concatenate([bs_price(*(a[i : i + 4000] for a in args)) for i in range(0, n, 4000)])
    )
    iv_args = (price, *args[:3], *args[4:])
    iv = implied_vol(*iv_args)
    iv_small = np.concatenate(
        [implied_vol(*(a[i : i + 2000] for a in iv_args)) for i in range(0, n, 2000)]
    )
    assert np.array_equal(iv, iv_small, equal_nan=True)


def test_implied_vol_round_trip():
    x = _grid(50_000, seed=3)
    g = bs_greeks(**x)
    iv = implied_vol(
        g.price, x["spot"], x["strike"], x["years"], x["rate"], x["div_yield"], x["is_call"]
    )
    informative = g.vega > 1e-4 * x["spot"]  # time value large enough to pin the vol down
    assert informative.mean() > 0.8
    assert np.isfinite(iv[informative]).all()
    assert np.max(np.abs(iv[informative] - x["vol"][informative])) < 1e-7


def test_implied_vol_rejects_impossible_prices():
    intrinsic = 100 - 80 * np.exp(-0.05)
    res = implied_vol(
        [intrinsic - 0.5, 101.0, 5.0, 5.0, -1.0],
        100.0,
        [80.0, 80.0, 100.0, 100.0, 100.0],
        [1.0, 1.0, 0.0, 1.0, 1.0],
        0.05,
        0.0,
        True,
    )
    assert np.isnan(res[0])  # below intrinsic value
    assert np.isnan(res[1])  # above the spot (no-arbitrage bound for a call)
    assert np.isnan(res[2])  # expired
    assert 0.0 < res[3] < 1.0
    assert np.isnan(res[4])  # negative price
