"""Overfitting statistics: how likely a backtest winner is to be luck.

Conventions (used by every function here and by the tuner)
----------------------------------------------------------
* **Returns are per period** (per bar): a Sharpe ratio here is never annualised, and ``T`` is the
  number of return observations. Mixing an annualised Sharpe with a per-period ``T`` is the most
  common way to get these statistics wrong; annualise only for display.
* **Sharpe** ``SR = mean(r) / std(r, ddof=1)`` (risk-free rate 0, or pass excess returns).
* **Skewness and kurtosis** are the population (biased) standardised moments
  ``g3 = m3 / m2**1.5``, ``g4 = m4 / m2**2`` with ``m_k = mean((r - mean(r))**k)``; kurtosis is
  **raw** (3 for a normal distribution, not excess).
* **A constant series** (``std == 0``) has ``SR = 0``, ``g3 = 0``, ``g4 = 3`` by definition (no
  division error): a strategy that never moves has no risk-adjusted edge.
* ``N`` (the number of trials) counts **every** configuration evaluated, pruned or not.
* NaN returns are an error (they would silently shorten ``T``); drop warm-up bars first.

Sources
-------
* PSR and MinTRL: D. H. Bailey and M. López de Prado, "The Sharpe Ratio Efficient Frontier",
  Journal of Risk 15(2), 2012.
* Expected maximum Sharpe (False Strategy theorem) and DSR: D. H. Bailey and M. López de Prado,
  "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and
  Non-Normality", Journal of Portfolio Management 40(5), 2014.
* PBO / CSCV: D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of
  Backtest Overfitting", Journal of Computational Finance 20(4), 2017.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numba as nb
import numpy as np
from scipy.stats import norm

from primeflow_lib.research.errors import ResearchError

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant."""


def _returns(returns, name: str = "returns") -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64).ravel()
    if r.size < 2:
        raise ResearchError(f"{name}: need at least 2 observations, got {r.size}")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise ResearchError(
            f"{name}: value {float(r[bad[0]])!r} at position {int(bad[0])} is not finite "
            "(drop warm-up bars before computing overfitting statistics)"
        )
    return r


def sharpe_per_period(returns) -> float:
    """``mean(r) / std(r, ddof=1)``, not annualised; 0 for a constant series."""
    return moments(returns)[0]


def moments(returns) -> tuple[float, float, float, int]:
    """``(SR, g3, g4, T)``: per-period Sharpe (ddof=1), population skewness, raw population
    kurtosis and the number of observations (see the module conventions)."""
    r = _returns(returns)
    d = r - r.mean()
    m2 = float(np.mean(d * d))
    if m2 == 0.0 or np.ptp(r) == 0.0:  # all values equal (the mean may carry rounding noise)
        return 0.0, 0.0, 3.0, r.size
    sr = float(r.mean()) / float(np.std(r, ddof=1))
    return sr, float(np.mean(d**3)) / m2**1.5, float(np.mean(d**4)) / m2**2, r.size


def psr_from_stats(sr: float, n_obs: int, skew: float, kurtosis: float, sr_benchmark: float = 0.0) -> float:
    """PSR from summary statistics (the formula of :func:`probabilistic_sharpe_ratio`).

    ``PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))``; NaN when the
    variance term is not positive (possible only for extreme skew with a large SR).
    """
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not var > 0.0:
        return math.nan
    return float(norm.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var)))


def probabilistic_sharpe_ratio(returns, sr_benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe Ratio (Bailey & López de Prado 2012): the probability that the true
    Sharpe ratio exceeds ``sr_benchmark`` given ``T`` observations and their skew and kurtosis.

    ``PSR(SR*) = Phi[(SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)]``

    Args:
        returns: per-period returns (no NaN), at least 2.
        sr_benchmark: the benchmark Sharpe ratio ``SR*``, **per period**.

    Returns:
        A probability in [0, 1]. A constant series has SR 0, so its PSR against 0 is 0.5.
    """
    sr, g3, g4, t = moments(returns)
    return psr_from_stats(sr, t, g3, g4, sr_benchmark)


def expected_max_sharpe(n_trials: int, trial_sharpe_std: float) -> float:
    """Expected maximum Sharpe ratio of ``n_trials`` independent trials whose true Sharpe is 0
    and whose estimated Sharpe ratios have standard deviation ``trial_sharpe_std`` (the False
    Strategy theorem, Bailey & López de Prado 2014):

    ``E[max SR] = sigma * ((1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e)))``

    with ``gamma`` the Euler-Mascheroni constant and ``Z^-1`` the inverse standard normal CDF.
    Units follow ``trial_sharpe_std`` (per period here). One trial gives 0 (no selection).
    """
    if isinstance(n_trials, bool) or not float(n_trials) >= 1 or not math.isfinite(n_trials):
        raise ResearchError(f"n_trials: {n_trials!r} must be a number >= 1")
    if not (math.isfinite(trial_sharpe_std) and trial_sharpe_std >= 0.0):
        raise ResearchError(f"trial_sharpe_std: {trial_sharpe_std!r} must be finite and >= 0")
    if n_trials == 1 or trial_sharpe_std == 0.0:
        return 0.0
    n = float(n_trials)
    return float(
        trial_sharpe_std
        * ((1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * norm.ppf(1.0 - 1.0 / (n * math.e)))
    )


def deflated_sharpe_ratio(returns, trial_sharpes) -> float:
    """Deflated Sharpe Ratio (Bailey & López de Prado 2014): the PSR of the selected strategy's
    ``returns`` against the expected maximum Sharpe of ``N = len(trial_sharpes)`` trials,
    ``SR0 = expected_max_sharpe(N, std(trial_sharpes, ddof=1))``; ``DSR = PSR(SR0)``.

    Args:
        returns: per-period returns of the selected configuration.
        trial_sharpes: per-period Sharpe ratio of **every** trial of the search (the winner
            included), at least 2, all finite.

    Returns:
        A probability in [0, 1]; 0.95 or more is the usual bar for a real edge.
    """
    s = np.asarray(trial_sharpes, dtype=np.float64).ravel()
    if s.size < 2:
        raise ResearchError(f"trial_sharpes: DSR needs at least 2 trials, got {s.size}")
    bad = np.flatnonzero(~np.isfinite(s))
    if bad.size:
        raise ResearchError(f"trial_sharpes: value {float(s[bad[0]])!r} at position {int(bad[0])} is not finite")
    sr0 = expected_max_sharpe(s.size, float(np.std(s, ddof=1)))
    return probabilistic_sharpe_ratio(returns, sr0)


def min_track_record_length(returns, sr_benchmark: float = 0.0, prob: float = 0.95) -> float:
    """Minimum Track Record Length (Bailey & López de Prado 2012), in observations: how many
    per-period returns with this SR, skew and kurtosis are needed for ``PSR(sr_benchmark) >=
    prob``:

    ``MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Z^-1(prob) / (SR - SR*))^2``

    ``inf`` when ``SR <= SR*`` (no track record is long enough).
    """
    if not 0.0 < prob < 1.0:
        raise ResearchError(f"prob: {prob!r} must be strictly between 0 and 1")
    sr, g3, g4, _ = moments(returns)
    if sr <= sr_benchmark:
        return math.inf
    var = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr
    return float(1.0 + var * (norm.ppf(prob) / (sr - sr_benchmark)) ** 2)


@dataclass(frozen=True)
class PBOResult:
    """Result of :func:`pbo`.

    Attributes:
        pbo: Probability of Backtest Overfitting, the share of splits whose logit is <= 0 (the
            in-sample winner ranks in the bottom half out of sample).
        logits: ``log(w / (1 - w))`` per split, ``w`` = OOS rank of the IS winner / (N + 1).
        prob_oos_loss: share of splits where the IS winner's OOS Sharpe is below 0.
        degradation_slope: OLS slope of the winner's OOS Sharpe on its IS Sharpe across splits
            (negative = performance degrades out of sample).
        is_sharpe / oos_sharpe: the IS winner's per-period Sharpe in and out of sample per split.
        n_splits: S; n_combinations: C(S, S/2); rows_used: T rows after dropping the residue.
    """

    pbo: float
    logits: np.ndarray
    prob_oos_loss: float
    degradation_slope: float
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    n_splits: int
    n_combinations: int
    rows_used: int


def cscv_splits(n_splits: int) -> np.ndarray:
    """The in-sample block sets of CSCV: a ``(C(S, S/2), S)`` boolean array, row ``c`` marking the
    blocks of split ``c`` that are in sample (the complement is out of sample)."""
    combos = list(itertools.combinations(range(n_splits), n_splits // 2))
    out = np.zeros((len(combos), n_splits), dtype=bool)
    for i, c in enumerate(combos):
        out[i, list(c)] = True
    return out


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _cscv(s1, s2, is_blocks, n_rows):  # pragma: no cover - compiled
    """Per split: IS winner (best IS Sharpe, first on ties), its IS and OOS Sharpe and its OOS
    rank (1 = worst, ties averaged). ``s1``/``s2``: per-block sums and sums of squares
    (S x N); ``is_blocks``: the IS block indices of each split (C x S/2). Split sums are
    accumulated from the cached block sums (OOS = total - IS), so nothing C x N is stored."""
    c = is_blocks.shape[0]
    half = is_blocks.shape[1]
    nb_, n = s1.shape
    tot1 = np.zeros(n)
    tot2 = np.zeros(n)
    for b in range(nb_):
        for j in range(n):
            tot1[j] += s1[b, j]
            tot2[j] += s2[b, j]
    best_is = np.empty(c)
    best_oos = np.empty(c)
    rank = np.empty(c)
    for i in nb.prange(c):
        a1 = np.zeros(n)
        a2 = np.zeros(n)
        for k in range(half):
            b = is_blocks[i, k]
            for j in range(n):
                a1[j] += s1[b, j]
                a2[j] += s2[b, j]
        arg = 0
        top = -np.inf
        for j in range(n):
            v = _sr(a1[j], a2[j], n_rows)
            if v > top:
                top = v
                arg = j
        sel = _sr(tot1[arg] - a1[arg], tot2[arg] - a2[arg], n_rows)
        below = 0
        equal = 0
        for j in range(n):
            v = _sr(tot1[j] - a1[j], tot2[j] - a2[j], n_rows)
            if v < sel:
                below += 1
            elif v == sel:
                equal += 1
        best_is[i] = top
        best_oos[i] = sel
        rank[i] = below + (equal + 1) / 2.0
    return best_is, best_oos, rank


@nb.njit(inline="always", cache=True, error_model="numpy")
def _sr(s1, s2, n):  # pragma: no cover - compiled
    """Per-period Sharpe (ddof=1) from a sum and a sum of squares over ``n`` rows. Sums of
    squares cancel to rounding noise for a constant column: a std below 1e-9 of the mean counts
    as zero (Sharpe 0; such a Sharpe would be > 1e9, never a real series)."""
    mean = s1 / n
    var = max(s2 - s1 * mean, 0.0) / (n - 1.0)
    sd = np.sqrt(var)
    return mean / sd if sd > 1e-9 * abs(mean) else 0.0


def pbo(pnl, n_splits: int = 16) -> PBOResult:
    """Probability of Backtest Overfitting by Combinatorially Symmetric Cross-Validation
    (Bailey, Borwein, López de Prado & Zhu).

    The ``T x N`` matrix (one column per configuration, per-period P&L or returns) is cut into
    ``S = n_splits`` blocks of equal rows (the leading ``T mod S`` rows are dropped). For every
    one of the ``C(S, S/2)`` ways to pick half of the blocks as in-sample (IS) and the rest as
    out-of-sample (OOS): the configuration with the best IS Sharpe is found, its OOS rank among
    all configurations ``r`` (1 = worst, N = best; ties get the average rank) gives
    ``w = r / (N + 1)`` and the logit ``log(w / (1 - w))``. PBO is the share of logits <= 0.

    Vectorised: block sums and sums of squares are computed once (numpy); a compiled parallel
    pass over the splits adds up each split's IS sums from them (OOS = total - IS) and finds the
    IS winner and its OOS rank, storing nothing of size C x N; N = 5,000 with S = 16 (12,870
    splits) takes about a second.

    Raises:
        ResearchError: odd or < 2 ``n_splits``, fewer rows than splits, fewer than 2 columns,
            NaN/inf values (naming the first bad column).
    """
    x = np.asarray(pnl, dtype=np.float64)
    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2 or n_splits % 2:
        raise ResearchError(f"n_splits: {n_splits!r} must be an even whole number >= 2")
    n_splits = int(n_splits)
    if x.ndim != 2:
        raise ResearchError(f"pnl: expected a T x N matrix, got shape {x.shape}")
    t, n = x.shape
    if n < 2:
        raise ResearchError(f"pnl: need at least 2 configurations (columns), got {n}")
    if t < 2 * n_splits:
        raise ResearchError(
            f"pnl: {t} rows is too few for n_splits = {n_splits} (need at least 2 rows per block, "
            f"{2 * n_splits} rows)"
        )
    finite = np.isfinite(x).all(axis=0)
    if not finite.all():
        col = int(np.flatnonzero(~finite)[0])
        raise ResearchError(f"pnl: column {col} has NaN or infinite values")
    block = t // n_splits
    # one contiguous copy: a transposed (trials x bars) view makes the block sums 2x slower
    x = np.ascontiguousarray(x[t - block * n_splits :])
    blocks = x.reshape(n_splits, block, n)
    s1 = blocks.sum(axis=1)
    s2 = (blocks * blocks).sum(axis=1)
    splits = cscv_splits(n_splits)
    is_blocks = np.array([np.flatnonzero(row) for row in splits], dtype=np.int64)
    rows_half = block * (n_splits // 2)
    ib, ob, rank = _cscv(s1, s2, is_blocks, float(rows_half))
    w = rank / (n + 1.0)
    lg = np.log(w / (1.0 - w))
    slope = float(np.polyfit(ib, ob, 1)[0]) if np.ptp(ib) > 0 else math.nan
    return PBOResult(
        pbo=float(np.mean(lg <= 0.0)),
        logits=lg,
        prob_oos_loss=float(np.mean(ob < 0.0)),
        degradation_slope=slope,
        is_sharpe=ib,
        oos_sharpe=ob,
        n_splits=n_splits,
        n_combinations=len(splits),
        rows_used=int(x.shape[0]),
    )


def verdict(pbo_value: float, dsr: float) -> str:
    """The study's verdict in words (thresholds: PBO 0.5, DSR 0.95):

    * ``"likely overfit: PBO 0.62"`` when PBO >= 0.5;
    * ``"not significant after deflation: DSR 0.71, PBO 0.20"`` when DSR < 0.95;
    * ``"passes: DSR 0.97, PBO 0.10"`` otherwise.
    """
    if not (pbo_value < 0.5):
        return f"likely overfit: PBO {pbo_value:.2f}"
    if not (dsr >= 0.95):
        return f"not significant after deflation: DSR {dsr:.2f}, PBO {pbo_value:.2f}"
    return f"passes: DSR {dsr:.2f}, PBO {pbo_value:.2f}"
