"""Memory limits of searches, checked before any work starts.

A tuning study keeps every trial's per-bar returns (a ``trials x bars`` float64 matrix) because
the walk-forward selection and the PBO need them all; a parameter sweep keeps one SMA row per
period and a few numbers per pair. Both grow without bound with the requested size, so
:func:`check_tune_memory` and :func:`check_sweep_memory` estimate the peak before the search
starts and refuse (:class:`ResourceLimitError`, the estimate in the message) when it is above
the budget: ``limits.research_memory_mb`` of the config (default 2,048 MB), or the
``budget_mb`` a caller passes (``primeflow tune --memory-mb``).

How the tuning estimate was measured (``tracemalloc`` peak of ``phiai_full_auto`` +
``study_rows`` on 300 and 1,500 bars, 2,000 and 8,000 trials): about 32 bytes per trial and bar
(the returns matrix, its concatenation and the PBO's contiguous copy and squares) and ~22 MB
fixed; the constants below add a margin (40 bytes per trial-bar, 1 KB per trial for its
parameters and row objects, 64 MB fixed).
"""

from __future__ import annotations

from primeflow_lib.research.errors import ResearchError

#: bytes per trial and bar held at the peak of a study (measured ~32; see the module docstring)
TUNE_BYTES_PER_TRIAL_BAR = 40
#: bytes per trial besides its returns row (parameters dict, trial row, JSON text)
TUNE_BYTES_PER_TRIAL = 1024
#: fixed part of a study or sweep (fold tables, the bar frame, the engine's buffers)
FIXED_BYTES = 64 * 2**20
#: budget when the config cannot be read
DEFAULT_BUDGET_MB = 2048.0


class ResourceLimitError(ResearchError):
    """A request whose estimated memory is above the budget; the message has the estimate."""


def memory_budget_mb() -> float:
    """``limits.research_memory_mb`` of the config (:data:`DEFAULT_BUDGET_MB` when the config
    cannot be read: a broken config file is reported by the commands that load it)."""
    from primeflow_lib.config import ConfigError, load_config

    try:
        return float(load_config(with_api_keys=False)["limits"]["research_memory_mb"])
    except (ConfigError, KeyError, TypeError, ValueError):
        return DEFAULT_BUDGET_MB


def estimate_tune_bytes(trials: int, n_bars: int) -> int:
    """Estimated peak memory of a tuning study of ``trials`` trials on ``n_bars`` bars, bytes."""
    return int(trials) * (int(n_bars) * TUNE_BYTES_PER_TRIAL_BAR + TUNE_BYTES_PER_TRIAL) + FIXED_BYTES


def estimate_sweep_bytes(n_periods: int, n_bars: int, workers: int = 2) -> int:
    """Estimated peak memory of an SMA sweep over ``n_periods`` periods (every fast < slow
    pair) on ``n_bars`` bars, bytes: the SMA table, ~100 bytes per pair (indices, results, the
    result frame) and each worker's buffers."""
    pairs = n_periods * (n_periods - 1) // 2
    return int(n_periods) * int(n_bars) * 8 + pairs * 100 + int(workers) * int(n_bars) * 8 * 12 + FIXED_BYTES


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n < 10 * 2**30 else f"{n / 2**30:,.1f} GB"


def _budget(budget_mb: float | None) -> float:
    budget = memory_budget_mb() if budget_mb is None else float(budget_mb)
    if not 0 < budget < 1e9:  # NaN and inf included
        raise ResourceLimitError(f"memory budget {budget_mb!r} MB: must be a positive number below 1e9 MB")
    return budget


def check_budget(what: str, estimate: int, budget_mb: float | None, hint: str) -> None:
    """Raise :class:`ResourceLimitError` when ``estimate`` bytes exceed the budget."""
    budget = _budget(budget_mb)
    if estimate > budget * 2**20:
        raise ResourceLimitError(
            f"{what}: estimated peak memory {_mb(estimate)} is above the budget of {_mb(budget * 2**20)} "
            f"(limits.research_memory_mb in the config); {hint}")


def check_tune_memory(trials: int, n_bars: int, budget_mb: float | None = None) -> int:
    """Refuse a study whose estimate (:func:`estimate_tune_bytes`) is above the budget; returns
    the estimate in bytes. The message says how many trials would fit."""
    est = estimate_tune_bytes(trials, n_bars)
    budget = _budget(budget_mb)
    fit = max(0, int((budget * 2**20 - FIXED_BYTES) // (n_bars * TUNE_BYTES_PER_TRIAL_BAR + TUNE_BYTES_PER_TRIAL)))
    check_budget(f"trials {int(trials):,} x {int(n_bars):,} bars", est, budget,
                 f"at most about {fit:,} trials fit on these bars: lower --trials (or use fewer bars)")
    return est


def check_sweep_memory(n_periods: int, n_bars: int, budget_mb: float | None = None, workers: int = 2) -> int:
    """Refuse a sweep whose estimate (:func:`estimate_sweep_bytes`) is above the budget."""
    est = estimate_sweep_bytes(n_periods, n_bars, workers)
    pairs = n_periods * (n_periods - 1) // 2
    check_budget(f"sweep of {int(n_periods):,} periods ({pairs:,} pairs) x {int(n_bars):,} bars", est, budget_mb,
                 "narrow min_period .. max_period")
    return est
