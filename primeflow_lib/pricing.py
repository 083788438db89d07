"""Black-Scholes-Merton pricing for European options: price, greeks and implied volatility.

Vectorised over arrays of any length (compiled with numba, parallel over the cores); every
function broadcasts its inputs against each other like numpy does, so scalars and arrays can be
mixed (``bs_price(100.0, strikes, 0.25, 0.2)`` prices a whole strip).

Conventions (all functions):

==============  ==========================================================================
``spot``        underlying price, USD (> 0)
``strike``      strike price, USD (> 0)
``years``       time to expiry in years (ACT/365: calendar days / 365). ``<= 0`` means expired:
                the value is the intrinsic value and every greek except delta is 0
``vol``         annualised volatility as a fraction (0.25 = 25 %). ``<= 0`` means no
                uncertainty: the value is the discounted forward intrinsic value
``rate``        continuously compounded risk-free rate, annual fraction (0.05 = 5 %)
``div_yield``   continuous dividend yield, annual fraction
``is_call``     True / 1 / ``"C"`` / ``"call"`` for calls; False / 0 / ``"P"`` / ``"put"``
                for puts (bool, int or string arrays accepted)
==============  ==========================================================================

Greek units (what :func:`bs_greeks` returns):

* ``price``: USD per share (multiply by 100 for one listed contract);
* ``delta``: dV/dS, per share (calls 0..1, puts -1..0);
* ``gamma``: d2V/dS2, per share per USD;
* ``theta``: change of value per **calendar day** as time passes, USD per share
  (``-dV/dT / 365``; usually negative);
* ``vega``: change of value for **+1 volatility point** (``vol + 0.01``), USD per share;
* ``rho``: change of value for **+1 percentage point** of ``rate`` (``rate + 0.01``), USD per
  share.

So ``theta``, ``vega`` and ``rho`` are the "per day / per point" figures brokers and
``market.option_chain`` show; Hull's per-year / per-unit figures are ``theta * 365``,
``vega * 100`` and ``rho * 100``.

NaN in any input gives NaN in the outputs of that element; nothing raises for bad numbers.
Throughput on the project's 2-core machine: see ``benchmarks/bench_options.py``.
"""

from __future__ import annotations

import math
import types as pytypes
from typing import Any, NamedTuple

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

__all__ = [
    "Greeks", "bs_gamma", "bs_gamma_profile", "bs_greeks", "bs_price", "bs_price_one",
    "implied_vol", "norm_cdf",
]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_DAYS_PER_YEAR = 365.0


class Greeks(NamedTuple):
    """Arrays of price and greeks, each with the broadcast shape of the inputs (see module doc
    for units)."""

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    rho: np.ndarray


# --------------------------------------------------------------------------- kernels
#
# The hot loops use branch-free polynomial versions of exp, log and the normal CDF (below) so
# LLVM can vectorise them (AVX2/AVX-512); calling libm's exp/erfc per element is ~2.5x slower.
# Accuracy: exp and log within 1 ulp of libm, the normal CDF within ~1e-14 relative (checked in
# tests/test_pricing.py against scipy). Elements with non-positive or non-finite inputs are
# recomputed afterwards by the scalar libm path (_greeks_one), which handles the edge cases.

_FM = {"contract", "nsz"}  # allow FMA contraction; keep NaN/Inf semantics
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_SQRT1_2 = 0.7071067811865476
#: arrays up to this size run on the calling thread only: waking the thread pool costs more than
#: pricing a few thousand options (and much more on a busy machine)
_SERIAL_MAX = 32768


@intrinsic
def _bits_to_f64(typingctx, x):  # pragma: no cover - compiled
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@intrinsic
def _f64_to_bits(typingctx, x):  # pragma: no cover - compiled
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _vexp(x):  # pragma: no cover - compiled
    """exp(x) for x in [-708, 709] (clamped): 2^k * Taylor(13) on |r| <= ln2/2."""
    x = min(max(x, -708.0), 709.0)
    kf = math.floor(x * _LOG2E + 0.5)
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _bits_to_f64((np.int64(kf) + 1023) << 52)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _vlog(x):  # pragma: no cover - compiled
    """log(x) for positive normal x: exponent split + atanh series on [sqrt(1/2), sqrt(2))."""
    b = _f64_to_bits(x)
    e = (b >> 52) - 1023
    m = _bits_to_f64((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > 1.4142135623730951
    m = m * 0.5 if big else m
    ef = float(e + 1) if big else float(e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    return ef * _LN2_HI + ((2.0 * s + 2.0 * s * z * p) + ef * _LN2_LO)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _verfcx(z):  # pragma: no cover - compiled
    """Scaled complementary error function exp(z^2) erfc(z) for z >= 0: a 21-term Chebyshev
    series of (z + 3) erfcx(z) in t = (z - 3) / (z + 3) (Clenshaw, unrolled)."""
    t = (z - 3.0) / (z + 3.0)
    t2 = t + t
    b2 = 0.0
    b1 = -7.297013129006487e-15
    b2, b1 = b1, t2 * b1 - b2 + 7.00852025796124e-14
    b2, b1 = b1, t2 * b1 - b2 + 2.46675356057674e-13
    b2, b1 = b1, t2 * b1 - b2 + -1.2579297773402975e-12
    b2, b1 = b1, t2 * b1 - b2 + -6.989938944317582e-12
    b2, b1 = b1, t2 * b1 - b2 + 2.43729998057761e-11
    b2, b1 = b1, t2 * b1 - b2 + 1.874241359301204e-10
    b2, b1 = b1, t2 * b1 - b2 + -5.842012759900597e-10
    b2, b1 = b1, t2 * b1 - b2 + -5.030506467948636e-09
    b2, b1 = b1, t2 * b1 - b2 + 1.9195224807039135e-08
    b2, b1 = b1, t2 * b1 - b2 + 1.3247975761795463e-07
    b2, b1 = b1, t2 * b1 - b2 + -8.239440148554284e-07
    b2, b1 = b1, t2 * b1 - b2 + -2.642785074384121e-06
    b2, b1 = b1, t2 * b1 - b2 + 3.9043421097476156e-05
    b2, b1 = b1, t2 * b1 - b2 + -6.429066714299202e-05
    b2, b1 = b1, t2 * b1 - b2 + -0.001379557163629726
    b2, b1 = b1, t2 * b1 - b2 + 0.01461527327281662
    b2, b1 = b1, t2 * b1 - b2 + -0.0850870400990854
    b2, b1 = b1, t2 * b1 - b2 + 0.3541081003424866
    b2, b1 = b1, t2 * b1 - b2 + -1.1314768490746976
    return (t * b1 - b2 + 1.4134382239808718) / (z + 3.0)


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _vncdf_pair(x, e):  # pragma: no cover - compiled
    """(N(x), N(-x)) given e = exp(-x^2 / 2); the smaller tail is computed directly."""
    h = 0.5 * e * _verfcx(abs(x) * _SQRT1_2)
    g = 1.0 - h
    neg = x <= 0.0
    return (h if neg else g), (g if neg else h)


@njit(cache=True, inline="always", error_model="numpy")
def _ncdf(x: float) -> float:  # pragma: no cover - compiled
    return 0.5 * math.erfc(-x * _SQRT1_2)


@njit(cache=True, inline="always", error_model="numpy")
def _regular(s, k, t, v, r, q) -> bool:  # pragma: no cover - compiled
    """True when the fast path applies: positive finite spot, strike, time and vol; finite rates."""
    return (
        0.0 < s < math.inf
        and 0.0 < k < math.inf
        and 0.0 < t < math.inf
        and 0.0 < v < math.inf
        and abs(r) < math.inf
        and abs(q) < math.inf
    )


@njit(cache=True, error_model="numpy")
def _count_irregular(s, k, t, v, r, q):  # pragma: no cover - compiled
    """How many elements fail _regular (branch-free so the loop vectorises)."""
    bad = 0
    inf = math.inf
    for i in range(s.shape[0]):
        ok = (
            (s[i] > 0.0)
            & (s[i] < inf)
            & (k[i] > 0.0)
            & (k[i] < inf)
            & (t[i] > 0.0)
            & (t[i] < inf)
            & (v[i] > 0.0)
            & (v[i] < inf)
            & (abs(r[i]) < inf)
            & (abs(q[i]) < inf)
        )
        bad += 0 if ok else 1
    return bad


@njit(cache=True, error_model="numpy")
def _greeks_one(s, k, t, v, r, q, c):  # pragma: no cover - compiled
    """Scalar libm path including the edge cases: (price, delta, gamma, theta, vega, rho)."""
    if t <= 0.0:
        # expired: intrinsic value, step delta, no time value
        if c:
            d = 1.0 if s > k else (0.5 if s == k else 0.0)
            return max(s - k, 0.0), d, 0.0, 0.0, 0.0, 0.0
        d = -1.0 if s < k else (-0.5 if s == k else 0.0)
        return max(k - s, 0.0), d, 0.0, 0.0, 0.0, 0.0
    dq = math.exp(-q * t)
    dr = math.exp(-r * t)
    if v <= 0.0:
        # no uncertainty: value of the forward, V = max(+-(S e^-qT - K e^-rT), 0)
        fwd = s * dq - k * dr
        sign = 1.0 if c else -1.0
        if sign * fwd > 0.0:
            return (
                sign * fwd,
                sign * dq,
                0.0,
                sign * (q * s * dq - r * k * dr) / _DAYS_PER_YEAR,
                0.0,
                sign * k * t * dr / 100.0,
            )
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    sqt = math.sqrt(t)
    sq = v * sqt
    d1 = (math.log(s / k) + (r - q + 0.5 * v * v) * t) / sq
    d2 = d1 - sq
    pdf = _INV_SQRT_2PI * math.exp(-0.5 * d1 * d1)
    sdq = s * dq
    kdr = k * dr
    ct = -sdq * pdf * v / (2.0 * sqt)
    gamma = dq * pdf / (s * sq)
    vega = sdq * pdf * sqt / 100.0
    if c:
        n1 = _ncdf(d1)
        n2 = _ncdf(d2)
        price = sdq * n1 - kdr * n2
        theta = (ct - r * kdr * n2 + q * sdq * n1) / _DAYS_PER_YEAR
        return price, dq * n1, gamma, theta, vega, k * t * dr * n2 / 100.0
    m1 = _ncdf(-d1)
    m2 = _ncdf(-d2)
    price = kdr * m2 - sdq * m1
    theta = (ct + r * kdr * m2 - q * sdq * m1) / _DAYS_PER_YEAR
    return price, -dq * m1, gamma, theta, vega, -k * t * dr * m2 / 100.0


@njit(cache=True, error_model="numpy")
def bs_price_one(s, k, t, v, r, q, c):  # pragma: no cover - compiled
    """Scalar Black-Scholes-Merton value, USD per share, callable from other numba code (the
    options backtest kernel reprices its legs with it). Same conventions and edge cases as
    :func:`bs_price` (``t <= 0`` = intrinsic, ``v <= 0`` = discounted forward intrinsic);
    ``c`` is a bool (True = call)."""
    return _greeks_one(s, k, t, v, r, q, c)[0]


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _greeks_kernel(
    s, k, t, v, r, q, call, price, delta, gamma, theta, vega, rho
):  # pragma: no cover
    for i in prange(s.shape[0]):
        si = s[i]
        ki = k[i]
        ti = t[i]
        vi = v[i]
        ri = r[i]
        qi = q[i]
        cf = 1.0 if call[i] else 0.0
        pf = 1.0 - cf
        sqt = math.sqrt(ti)
        sq = vi * sqt
        d1 = (_vlog(si / ki) + (ri - qi + 0.5 * vi * vi) * ti) / sq
        d2 = d1 - sq
        dq = _vexp(-qi * ti)
        dr = _vexp(-ri * ti)
        e1 = _vexp(-0.5 * d1 * d1)
        n1, m1 = _vncdf_pair(d1, e1)
        n2, m2 = _vncdf_pair(d2, _vexp(-0.5 * d2 * d2))
        pdf = _INV_SQRT_2PI * e1
        sdq = si * dq
        kdr = ki * dr
        ct = -sdq * pdf * vi / (2.0 * sqt)
        price[i] = cf * (sdq * n1 - kdr * n2) + pf * (kdr * m2 - sdq * m1)
        delta[i] = dq * (cf * n1 - pf * m1)
        gamma[i] = dq * pdf / (si * sq)
        theta[i] = (
            ct + cf * (qi * sdq * n1 - ri * kdr * n2) + pf * (ri * kdr * m2 - qi * sdq * m1)
        ) / _DAYS_PER_YEAR
        vega[i] = sdq * pdf * sqt / 100.0
        rho[i] = ki * ti * dr * (cf * n2 - pf * m2) / 100.0


@njit(cache=True, error_model="numpy")
def _greeks_fixup(
    s, k, t, v, r, q, call, price, delta, gamma, theta, vega, rho
):  # pragma: no cover
    """Recompute the elements the vectorised pass cannot handle (see _regular)."""
    if _count_irregular(s, k, t, v, r, q) == 0:
        return
    for i in range(s.shape[0]):
        if not _regular(s[i], k[i], t[i], v[i], r[i], q[i]):
            out = _greeks_one(s[i], k[i], t[i], v[i], r[i], q[i], call[i])
            price[i], delta[i], gamma[i], theta[i], vega[i], rho[i] = out


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _price_kernel(s, k, t, v, r, q, call, price):  # pragma: no cover - compiled
    for i in prange(s.shape[0]):
        si = s[i]
        ki = k[i]
        ti = t[i]
        vi = v[i]
        cf = 1.0 if call[i] else 0.0
        sq = vi * math.sqrt(ti)
        d1 = (_vlog(si / ki) + (r[i] - q[i] + 0.5 * vi * vi) * ti) / sq
        d2 = d1 - sq
        n1, m1 = _vncdf_pair(d1, _vexp(-0.5 * d1 * d1))
        n2, m2 = _vncdf_pair(d2, _vexp(-0.5 * d2 * d2))
        sdq = si * _vexp(-q[i] * ti)
        kdr = ki * _vexp(-r[i] * ti)
        price[i] = cf * (sdq * n1 - kdr * n2) + (1.0 - cf) * (kdr * m2 - sdq * m1)


@njit(cache=True, error_model="numpy")
def _price_fixup(s, k, t, v, r, q, call, price):  # pragma: no cover - compiled
    if _count_irregular(s, k, t, v, r, q) == 0:
        return
    for i in range(s.shape[0]):
        if not _regular(s[i], k[i], t[i], v[i], r[i], q[i]):
            price[i] = _greeks_one(s[i], k[i], t[i], v[i], r[i], q[i], call[i])[0]


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _otm_price_vega(lnfk, sqt, x, sdq, kdr, call):  # pragma: no cover - compiled
    """Price and vega (per 1.00 vol) from precomputed ln(F/K), sqrt(T), S e^-qT and K e^-rT."""
    sq = x * sqt
    d1 = lnfk / sq + 0.5 * sq
    d2 = d1 - sq
    e1 = _vexp(-0.5 * d1 * d1)
    n1, m1 = _vncdf_pair(d1, e1)
    n2, m2 = _vncdf_pair(d2, _vexp(-0.5 * d2 * d2))
    p = (sdq * n1 - kdr * n2) if call else (kdr * m2 - sdq * m1)
    return p, sdq * _INV_SQRT_2PI * e1 * sqt


@njit(cache=True, parallel=True, error_model="numpy")
def _iv_kernel(px, s, k, t, r, q, call, lo0, hi0, tol, max_iter, out):  # pragma: no cover
    for i in prange(px.shape[0]):
        out[i] = np.nan
        p = px[i]
        si = s[i]
        ki = k[i]
        ti = t[i]
        c = call[i]
        if not (_regular(si, ki, ti, 1.0, r[i], q[i]) and 0.0 <= p < math.inf):
            continue
        sdq = si * math.exp(-q[i] * ti)
        kdr = ki * math.exp(-r[i] * ti)
        # solve on the out-of-the-money side (put-call parity): better conditioned
        fwd = sdq - kdr
        if c and fwd > 0.0:
            p -= fwd
            c = False
        elif (not c) and fwd < 0.0:
            p += fwd
            c = True
        upper = sdq if c else kdr
        # below ~1e-12 of the spot the time value is lost in rounding: no meaningful answer
        if p <= 1e-12 * max(si, ki) or p >= upper:
            continue
        lnfk = math.log(sdq / kdr)
        sqt = math.sqrt(ti)
        lo = lo0
        hi = hi0
        if p < _otm_price_vega(lnfk, sqt, lo, sdq, kdr, c)[0]:
            continue
        if p > _otm_price_vega(lnfk, sqt, hi, sdq, kdr, c)[0]:
            continue
        # Manaster-Koehler start (the inflection point of price in vol: Newton converges
        # monotonically from there); Brenner-Subrahmanyam near the money
        x = math.sqrt(2.0 * abs(lnfk) / ti)
        if x < 0.05:
            x = math.sqrt(2.0 * math.pi / ti) * p / sdq
        if not (lo < x < hi):
            x = 0.5 * (lo + hi) if hi < 0.6 else 0.3
        for _ in range(max_iter):
            f, vg = _otm_price_vega(lnfk, sqt, x, sdq, kdr, c)
            diff = f - p
            if abs(diff) <= tol * p:
                break
            if diff > 0.0:
                hi = x
            else:
                lo = x
            nx = x - diff / vg if vg > 0.0 else 0.5 * (lo + hi)
            if not (lo < nx < hi):
                nx = 0.5 * (lo + hi)
            if hi - lo <= 1e-14 * hi:
                x = nx
                break
            x = nx
        out[i] = x


# --------------------------------------------------------------------------- wrappers


def _as_call(is_call: object) -> np.ndarray:
    a = np.asarray(is_call)
    if a.dtype.kind in ("U", "S", "O", "T"):
        u = np.char.upper(a.astype(str))
        ok = np.isin(u, ("C", "P", "CALL", "PUT"))
        if not ok.all():
            bad = a.ravel()[np.flatnonzero(~ok.ravel())[0]]
            raise ValueError(f"is_call: {bad!r} is not one of C, P, call, put")
        return (u == "C") | (u == "CALL")
    return np.asarray(a, dtype=bool)


def _serial_twin(kernel: Any) -> Any:
    """``kernel``'s loop compiled without ``parallel=True``, under its own name (numba keys its
    on-disk cache by function name, not by compile options).

    :func:`_run` uses it for small inputs, which ran on one thread anyway: same loop, same
    flags otherwise, same results bit for bit (tests/test_pricing.py), and it compiles in about
    a third of the time. A fresh checkout pays that compile on its first run (``make demo``
    only ever prices small arrays, so the parallel kernels are not compiled there at all)."""
    f = kernel.py_func
    name = f"{f.__name__}_serial"
    code = f.__code__.replace(co_name=name, co_qualname=f"{f.__qualname__}_serial")
    twin = pytypes.FunctionType(code, f.__globals__, name, f.__defaults__, f.__closure__)
    twin.__qualname__ = code.co_qualname
    twin.__module__ = f.__module__
    twin.__doc__ = f.__doc__
    opts = {k: v for k, v in kernel.targetoptions.items() if k not in ("parallel", "nopython")}
    return njit(cache=True, **opts)(twin)


_SERIAL = {k: _serial_twin(k) for k in (_greeks_kernel, _price_kernel, _iv_kernel)}


def _run(kernel: Any, n: int, *args: object) -> None:
    """Call a parallel kernel on large inputs; small inputs run its serial twin on the calling
    thread (waking the thread pool costs more than pricing a few thousand options)."""
    (kernel if n > _SERIAL_MAX else _SERIAL[kernel])(*args)


def _prepare(
    *args: object, is_call: object
) -> tuple[tuple[int, ...], list[np.ndarray], np.ndarray]:
    floats = [np.asarray(x, dtype=np.float64) for x in args]
    calls = _as_call(is_call)
    shape = np.broadcast_shapes(*(f.shape for f in floats), calls.shape)
    flat = [_readonly_flat(f, shape) for f in floats]
    return shape, flat, _readonly_flat(calls, shape)


def _readonly_flat(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` broadcast to ``shape``, flattened, C-contiguous and always read-only: one array
    type per kernel argument, so numba compiles each kernel once (not once per mix of writeable
    and read-only inputs)."""
    out = np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def bs_price(
    spot: object,
    strike: object,
    years: object,
    vol: object,
    rate: object = 0.0,
    div_yield: object = 0.0,
    is_call: object = True,
) -> np.ndarray:
    """Black-Scholes-Merton value of European options, USD per share.

    Args: see the module table (all broadcast against each other).

    Returns:
        float64 array with the broadcast shape of the inputs (0-d for all-scalar input).

    Example:
        Hull's textbook example (S=42, K=40, r=10 %, sigma=20 %, T=0.5): call 4.76, put 0.81.

        >>> round(float(bs_price(42, 40, 0.5, 0.2, 0.10, is_call="C")), 2)
        4.76
    """
    shape, (s, k, t, v, r, q), c = _prepare(
        spot, strike, years, vol, rate, div_yield, is_call=is_call
    )
    out = np.empty(s.shape[0], dtype=np.float64)
    if s.shape[0]:
        _run(_price_kernel, s.shape[0], s, k, t, v, r, q, c, out)
        _price_fixup(s, k, t, v, r, q, c, out)
    return out.reshape(shape)


def bs_greeks(
    spot: object,
    strike: object,
    years: object,
    vol: object,
    rate: object = 0.0,
    div_yield: object = 0.0,
    is_call: object = True,
    *,
    out: Greeks | None = None,
) -> Greeks:
    """Black-Scholes-Merton price and greeks in one pass.

    Args:
        out: optional preallocated :class:`Greeks` of six C-contiguous float64 arrays with the
            broadcast size (saves allocating 48 bytes per option when called repeatedly).

    Returns:
        :class:`Greeks` (price, delta, gamma, theta per calendar day, vega per vol point, rho per
        rate point), each a float64 array with the broadcast shape of the inputs.

    Example (Hull, *Options, Futures and Other Derivatives*, ch. 19: S=49, K=50, r=5 %,
    sigma=20 %, T=20 weeks): call delta 0.522, gamma 0.066, theta -4.31/year = -0.0118/day,
    vega 12.1 per unit = 0.121 per point, rho 8.91 per unit = 0.0891 per point.
    """
    shape, (s, k, t, v, r, q), c = _prepare(
        spot, strike, years, vol, rate, div_yield, is_call=is_call
    )
    n = s.shape[0]
    if out is None:
        outs = [np.empty(n, dtype=np.float64) for _ in range(6)]
    else:
        outs = [np.asarray(o).reshape(-1) for o in out]
        if any(o.shape != (n,) or o.dtype != np.float64 or not o.flags.c_contiguous for o in outs):
            raise ValueError(f"out must hold six C-contiguous float64 arrays of size {n}")
    if n:
        _run(_greeks_kernel, n, s, k, t, v, r, q, c, *outs)
        _greeks_fixup(s, k, t, v, r, q, c, *outs)
    return Greeks(*(o.reshape(shape) for o in outs))


def implied_vol(
    price: object,
    spot: object,
    strike: object,
    years: object,
    rate: object = 0.0,
    div_yield: object = 0.0,
    is_call: object = True,
    *,
    vol_min: float = 1e-4,
    vol_max: float = 5.0,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> np.ndarray:
    """Implied volatility that reproduces ``price`` (USD per share) under Black-Scholes-Merton.

    The solver works on the out-of-the-money side (an in-the-money price is turned into the
    other right's price by put-call parity, which is better conditioned), then runs Newton steps
    on vega safeguarded by a bisection bracket ``[vol_min, vol_max]``; it stops when the price
    error is ``<= tol`` relative to that out-of-the-money price (or the bracket is exhausted).
    Typical cost: 3-8 iterations, about 1-2 M options/s on this machine.

    Returns:
        float64 array (broadcast shape) of annualised vols; NaN where no vol in
        ``[vol_min, vol_max]`` reproduces the price (price at or below intrinsic value, above the
        no-arbitrage upper bound, expired or invalid inputs). A price whose time value is lost in
        float rounding (deep in the money, ~1e-12 of the price) has no meaningful implied vol;
        expect NaN or a poorly determined value there.
    """
    shape, (p, s, k, t, r, q), c = _prepare(
        price, spot, strike, years, rate, div_yield, is_call=is_call
    )
    out = np.empty(p.shape[0], dtype=np.float64)
    if p.shape[0]:
        _run(
            _iv_kernel,
            p.shape[0] * 8,
            p,
            s,
            k,
            t,
            r,
            q,
            c,
            float(vol_min),
            float(vol_max),
            float(tol),
            int(max_iter),
            out,
        )
    return out.reshape(shape)


def norm_cdf(x: object) -> np.ndarray:
    """Standard normal cumulative distribution function (vectorised, float64)."""
    from scipy.special import ndtr

    return ndtr(np.asarray(x, dtype=np.float64))


# --------------------------------------------------------------------------- gamma alone
#
# Gamma is the same for a call and a put, and needs one log and one exp per option (no normal
# CDF): profiles of dealer gamma exposure (primeflow_lib.flow.gex) evaluate it tens of millions
# of times, where bs_greeks would compute five greeks nobody reads. _gamma_fast is the one
# formula both wrappers below use.


@njit(cache=True, inline="always", fastmath=_FM, error_model="numpy")
def _gamma_fast(s, k, t, v, r, q):  # pragma: no cover - compiled
    """e^-qT pdf(d1) / (S sigma sqrt(T)) for regular inputs (see _regular), the two
    exponentials folded into one."""
    sq = v * math.sqrt(t)
    d1 = (_vlog(s / k) + (r - q + 0.5 * v * v) * t) / sq
    return _INV_SQRT_2PI * _vexp(-q * t - 0.5 * d1 * d1) / (s * sq)


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _gamma_kernel(s, k, t, v, r, q, out):  # pragma: no cover - compiled
    for i in prange(s.shape[0]):
        out[i] = _gamma_fast(s[i], k[i], t[i], v[i], r[i], q[i])


@njit(cache=True, error_model="numpy")
def _gamma_fixup(s, k, t, v, r, q, out):  # pragma: no cover - compiled
    """Recompute the elements the vectorised pass cannot handle (see _regular)."""
    if _count_irregular(s, k, t, v, r, q) == 0:
        return
    for i in range(s.shape[0]):
        if not _regular(s[i], k[i], t[i], v[i], r[i], q[i]):
            out[i] = _greeks_one(s[i], k[i], t[i], v[i], r[i], q[i], True)[2]


@njit(cache=True, parallel=True, fastmath=_FM, error_model="numpy")
def _gamma_profile_kernel(spots, offsets, k, t, v, w, r, q, out):  # pragma: no cover - compiled
    ng = spots.shape[1]
    for g in prange(offsets.shape[0] - 1):
        for i in range(offsets[g], offsets[g + 1]):
            ki, ti, vi, wi = k[i], t[i], v[i], w[i]
            if _regular(1.0, ki, ti, vi, r, q):  # the wrapper checked every spot is regular
                for j in range(ng):
                    out[g, j] += wi * _gamma_fast(spots[g, j], ki, ti, vi, r, q)
            else:
                for j in range(ng):
                    out[g, j] += wi * _greeks_one(spots[g, j], ki, ti, vi, r, q, True)[2]


_SERIAL[_gamma_kernel] = _serial_twin(_gamma_kernel)
_SERIAL[_gamma_profile_kernel] = _serial_twin(_gamma_profile_kernel)


def bs_gamma(
    spot: object,
    strike: object,
    years: object,
    vol: object,
    rate: object = 0.0,
    div_yield: object = 0.0,
) -> np.ndarray:
    """Black-Scholes-Merton gamma alone, per share per USD (the same for calls and puts).

    The same value as ``bs_greeks(...).gamma`` (to rounding: tested), for callers that need
    gamma alone. Arguments broadcast like :func:`bs_price`; ``years <= 0`` (expired) or
    ``vol <= 0`` give 0.

    Example (Hull, ch. 19: S=49, K=50, r=5 %, sigma=20 %, T=20 weeks): gamma 0.066.

        >>> round(float(bs_gamma(49, 50, 20 / 52, 0.2, 0.05)), 3)
        0.066
    """
    shape, (s, k, t, v, r, q), _ = _prepare(spot, strike, years, vol, rate, div_yield, is_call=True)
    out = np.empty(s.shape[0], dtype=np.float64)
    if s.shape[0]:
        _run(_gamma_kernel, s.shape[0], s, k, t, v, r, q, out)
        _gamma_fixup(s, k, t, v, r, q, out)
    return out.reshape(shape)


def bs_gamma_profile(
    spots: object,
    offsets: object,
    strike: object,
    years: object,
    vol: object,
    weight: object,
    rate: float = 0.0,
    div_yield: float = 0.0,
) -> np.ndarray:
    """Weighted sums of gamma over groups of options, each group on its own grid of spots.

    ``out[g, j] = sum(weight[i] * gamma(spots[g, j], strike[i], years[i], vol[i]))`` over the
    options ``i`` of group ``g`` (``offsets[g] <= i < offsets[g + 1]``): the total gamma of a
    book at hypothetical underlying prices, computed without materialising the
    options x grid array (the gamma formula is the one of :func:`bs_gamma`).

    Args:
        spots: ``(groups, points)`` hypothetical spots, USD; all finite and > 0.
        offsets: ``groups + 1`` non-decreasing ints, ``offsets[0] == 0``,
            ``offsets[-1] == len(strike)``: options sorted by group.
        strike, years, vol, weight: one value per option (``weight`` in any unit; the result
            is gamma per share per USD times that unit).
        rate, div_yield: one value for every option.

    Returns:
        ``(groups, points)`` float64 array.
    """
    sp = np.ascontiguousarray(spots, dtype=np.float64)
    if sp.ndim != 2:
        raise ValueError(f"spots must be a (groups, points) array, got shape {sp.shape}")
    if not (np.isfinite(sp).all() and (sp > 0).all()):
        raise ValueError("spots must all be finite and > 0")
    off = np.ascontiguousarray(offsets, dtype=np.int64)
    k, t, v, w = (np.ascontiguousarray(x, dtype=np.float64).reshape(-1) for x in (strike, years, vol, weight))
    n = k.shape[0]
    if not (t.shape[0] == v.shape[0] == w.shape[0] == n):
        raise ValueError("strike, years, vol and weight must have one value per option")
    if off.shape != (sp.shape[0] + 1,) or off[0] != 0 or off[-1] != n or (np.diff(off) < 0).any():
        raise ValueError(f"offsets must be {sp.shape[0] + 1} non-decreasing ints from 0 to {n}")
    out = np.zeros(sp.shape, dtype=np.float64)
    if n and sp.shape[1]:
        _run(_gamma_profile_kernel, n * sp.shape[1], sp, off, k, t, v, w, float(rate), float(div_yield), out)
    return out
