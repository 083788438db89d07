"""Samplers: points of the unit cube for :meth:`Space.decode`, or the full grid.

* ``random``: ``numpy.random.default_rng(seed).random((n, d))`` (PCG64).
* ``sobol``: scrambled Sobol' sequence, ``scipy.stats.qmc.Sobol(d, scramble=True, seed=seed)``;
  ``n`` need not be a power of two (the first ``n`` points are used, balance is then approximate).
* ``grid``: every valid grid point of the space (``n`` must be at least the grid size).

Same space + sampler + seed + n = the same parameters, byte for byte (no framework, no
per-trial overhead: one array draw for the whole budget).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.tuning.spaces import Space

SAMPLERS: tuple[str, ...] = ("sobol", "random", "grid")


def unit_draws(sampler: str, n: int, dim: int, seed: int) -> np.ndarray:
    """``(n, dim)`` points in [0, 1) for ``random`` or ``sobol``."""
    if sampler == "random":
        return np.random.default_rng(seed).random((n, dim))
    if sampler == "sobol":
        with warnings.catch_warnings():  # non-power-of-two n: documented above
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dim, scramble=True, seed=seed).random(n)
    raise ResearchError(f"sampler: {sampler!r} is not one of {list(SAMPLERS)}")


def sample(space: Space, sampler: str, n: int, seed: int) -> list[dict[str, float]]:
    """``n`` parameter sets of ``space`` (``grid``: all grid points, and ``n`` must cover them)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ResearchError(f"trials: {n!r} must be a whole number >= 1")
    if sampler == "grid":
        points = space.grid_points()
        if len(points) > n:
            raise ResearchError(
                f"trials: {n} is fewer than the {len(points)} grid points of {space.indicator!r}; "
                "raise the budget or use sampler sobol/random"
            )
        return points
    return space.decode(unit_draws(sampler, int(n), space.dim, seed))
