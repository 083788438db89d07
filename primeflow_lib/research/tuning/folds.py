"""Walk-forward folds with a purge gap and an optional embargo.

Bars are indexed ``0 .. n-1``; every window is half-open ``[start, end)``.

* The last ``n_folds * test_bars`` bars are cut into ``n_folds`` consecutive test windows
  (``test_bars`` default: ``(n - first - gap) // (n_folds + 1)``, so the first train window is
  about as long as one test window).
* **purge**: ``gap = purge + embargo`` bars between a train window's end and its test window's
  start belong to neither. The tuner sets ``purge = longest lookback of the searched space +
  holding horizon``, so no indicator value or position used to score a train bar needs a bar of
  the test window, and the first test bars are not scored with positions still driven by train
  bars' warm-up. ``embargo`` widens the gap further (for serially correlated returns).
* **anchored** (default): every train window starts at ``first`` (the first bar where every
  searched configuration has a signal). **rolling**: train windows of ``train_bars`` bars end at
  the gap.

Each train and test window must be at least ``min_bars`` long (the tuner passes the longest
lookback), otherwise :class:`ResearchError` names the parameter and value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from primeflow_lib.research.errors import ResearchError


@dataclass(frozen=True)
class FoldSpec:
    """How to cut folds: ``n_folds``, ``test_bars`` / ``train_bars`` (None = default: see the
    module docstring; train_bars is used only when ``anchored`` is False), ``embargo`` bars."""

    n_folds: int = 5
    test_bars: int | None = None
    train_bars: int | None = None
    anchored: bool = True
    embargo: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Fold:
    """One fold: train ``[train_start, train_end)``, test ``[test_start, test_end)``."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def make_folds(n_bars: int, spec: FoldSpec, purge: int, first: int = 0, min_bars: int = 2) -> list[Fold]:
    """The folds of ``spec`` over ``n_bars`` bars (see the module docstring)."""
    for name in ("n_folds", "embargo"):
        v = getattr(spec, name)
        if isinstance(v, bool) or int(v) != v or v < (1 if name == "n_folds" else 0):
            raise ResearchError(f"folds.{name}: {v!r} must be a whole number >= {1 if name == 'n_folds' else 0}")
    k = int(spec.n_folds)
    gap = int(purge) + int(spec.embargo)
    usable = n_bars - first
    test = spec.test_bars if spec.test_bars is not None else (usable - gap) // (k + 1)
    if int(test) != test or test < min_bars:
        fit = (usable - gap) // max(int(min_bars), 1) - 1 if spec.test_bars is None else 0
        need = first + gap + (k + 1) * int(min_bars)
        how = (f"at most {fit} fold{'s' if fit > 1 else ''} fit these bars (--folds {fit})" if fit >= 1
               else f"no fold fits: {k} folds need about {need:,} bars")
        raise ResearchError(
            f"folds.test_bars: {test!r} bars per test fold is shorter than the longest lookback "
            f"({min_bars} bars) with {n_bars:,} bars and {k} folds; {how}, or give more bars (an earlier "
            "--start, `primeflow fetch --start ...`), or tune indicators with shorter lookbacks"
        )
    test = int(test)
    start0 = n_bars - k * test
    folds = []
    for i in range(k):
        ts = start0 + i * test
        te = ts + test
        tr_end = ts - gap
        if spec.anchored:
            tr_start = first
        else:
            tb = spec.train_bars if spec.train_bars is not None else test
            tr_start = tr_end - int(tb)
            if tr_start < first:
                raise ResearchError(
                    f"folds.train_bars: {tb!r} does not fit before test fold {i + 1} "
                    f"(needs bars from {tr_start}, first usable bar is {first})"
                )
        if tr_end - tr_start < min_bars:
            raise ResearchError(
                f"folds: train fold {i + 1} has {tr_end - tr_start} bars, shorter than the longest "
                f"lookback ({min_bars} bars); use fewer folds ({k}), shorter tests "
                f"(test_bars = {test}) or more bars ({n_bars})"
            )
        folds.append(Fold(i, tr_start, tr_end, ts, te))
    return folds
