"""Search spaces from the indicator registry's tune ranges.

Each tunable parameter of an indicator has a tune range ``(low, high, step)``
(:class:`primeflow_lib.research.params.Param`); its candidate values are that grid (whole numbers
stay whole numbers). Ordering rules between two parameters (``fast < slow``, ``oversold <
overbought``, ``threshold < full``) are honoured **by construction**: the upper parameter is
drawn first and the lower one is drawn from the values of its grid strictly below it, so no
sample is ever rejected and every sample is valid.

A point of the unit cube ``u in [0, 1)^d`` (from a sampler) maps to parameters by
``index = floor(u_j * n_j)`` into the (possibly conditional) grid of dimension ``j``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import get

# (lower, upper) parameter pairs whose order the registry's cross-parameter checks enforce.
ORDER_PAIRS: tuple[tuple[str, str], ...] = (
    ("fast", "slow"), ("oversold", "overbought"), ("threshold", "full"),
)  # fmt: skip


@dataclass(frozen=True)
class Space:
    """The search space of one indicator: parameter names in draw order, their grids, and the
    ordering pairs ``(lower, upper)`` applied while drawing."""

    indicator: str
    names: tuple[str, ...]
    grids: tuple[np.ndarray, ...]
    integer: tuple[bool, ...]
    pairs: tuple[tuple[str, str], ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    def _value(self, j: int, values: np.ndarray) -> object:
        return int(values) if self.integer[j] else float(values)

    def decode(self, u: np.ndarray) -> list[dict[str, float]]:
        """Parameters for each row of ``u`` (shape ``(n, dim)``, values in [0, 1))."""
        u = np.asarray(u, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != self.dim:
            raise ResearchError(f"space {self.indicator!r}: expected (n, {self.dim}) draws, got {u.shape}")
        idx = {name: j for j, name in enumerate(self.names)}
        lower_of = {lo: hi for lo, hi in self.pairs}
        cols: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.names):
            grid = self.grids[j]
            if name in lower_of:
                upper = cols[lower_of[name]]
                # number of grid values strictly below the already drawn upper value
                n_ok = np.searchsorted(grid, upper, side="left")
                k = np.minimum((u[:, j] * n_ok).astype(np.int64), n_ok - 1)
            else:
                k = np.minimum((u[:, j] * len(grid)).astype(np.int64), len(grid) - 1)
            cols[name] = grid[k]
        out = []
        for i in range(u.shape[0]):
            out.append({name: self._value(idx[name], cols[name][i]) for name in self.names})
        return out

    def grid_points(self) -> list[dict[str, float]]:
        """Every valid combination of the grids (ordering pairs applied), in lexicographic order
        of the declared parameter order."""
        combos = itertools.product(*self.grids)
        pos = {n: j for j, n in enumerate(self.names)}
        out = []
        for c in combos:
            if all(c[pos[lo]] < c[pos[hi]] for lo, hi in self.pairs):
                out.append({n: self._value(pos[n], c[pos[n]]) for n in self.names})
        return out

    def grid_size(self) -> int:
        """Number of valid grid points (without building them when there are no pairs)."""
        if not self.pairs:
            return int(np.prod([len(g) for g in self.grids]))
        return len(self.grid_points())


def space_for(indicator: str) -> Space:
    """The :class:`Space` of a registered indicator (``name:label`` aliases allowed).

    Raises:
        ResearchError: the indicator has no tunable parameters, or a cross-parameter rule this
            module does not know how to construct.
    """
    ind = get(indicator)
    # a range with low == high fixes the parameter: it is not searched
    params = {k: p for k, p in ind.params.items() if p.tune[0] < p.tune[1]}
    if not params:
        raise ResearchError(f"indicators: {indicator!r} has no tune ranges; it cannot be tuned")
    pairs = tuple((lo, hi) for lo, hi in ORDER_PAIRS if lo in params and hi in params)
    if ind.check is not None and not pairs:
        raise ResearchError(
            f"indicators: {indicator!r} has a cross-parameter rule the tuner cannot construct"
        )
    lowers = {lo for lo, _ in pairs}
    # draw uppers (and free parameters) before the lower member of each pair
    names = tuple([n for n in params if n not in lowers] + [n for n in params if n in lowers])
    grids = []
    for n in names:
        g = params[n].grid()
        g = g[g >= params[n].minimum]
        if len(g) == 0:
            raise ResearchError(f"indicators: {indicator!r} parameter {n!r} has an empty tune range")
        grids.append(np.unique(g))
    for lo, hi in pairs:
        glo, ghi = grids[names.index(lo)], grids[names.index(hi)]
        if not (glo[0] < ghi).all():
            raise ResearchError(
                f"indicators: {indicator!r} tune ranges leave no {lo} below some {hi} values"
            )
    return Space(
        indicator=indicator,
        names=names,
        grids=tuple(grids),
        integer=tuple(bool(params[n].integer) for n in names),
        pairs=pairs,
    )
