"""Parameter declarations shared by indicators and the regime engine."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from primeflow_lib.research.errors import ResearchError

#: largest whole-number parameter (bars, periods): TA-Lib refuses longer periods, and no stored
#: series is long enough to warm such an indicator up
MAX_WHOLE = 100_000


@dataclass(frozen=True)
class Param:
    """One numeric parameter: default, tune range ``(low, high, step)``, meaning, whole number or
    not, and the hard minimum a value must reach."""

    default: float
    tune: tuple[float, float, float]
    doc: str
    integer: bool = True
    minimum: float = 1

    def grid(self) -> np.ndarray:
        """The tune range as an array of candidate values (inclusive of ``high``)."""
        lo, hi, step = self.tune
        values = np.arange(lo, hi + step / 2, step)
        return values.astype(np.int64) if self.integer else values


def resolve_params(
    owner: str,
    specs: Mapping[str, Param],
    params: Mapping[str, float] | None,
    check: Callable[[dict], str | None] | None = None,
) -> dict[str, float]:
    """Defaults overlaid with ``params``, validated: unknown names, non-numbers, fractions for
    whole-number parameters, values under the minimum or whole numbers above :data:`MAX_WHOLE`,
    and cross-parameter rules (``check``) raise
    :class:`ResearchError` naming ``owner``, the parameter and the value."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise ResearchError(
            f"{owner}: unknown parameter {unknown[0]!r}; parameters are {sorted(specs)}"
        )
    out: dict[str, float] = {}
    for key, spec in specs.items():
        value = params.get(key, spec.default)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ResearchError(f"{owner}: parameter {key!r} value {value!r} is not a number")
        if not math.isfinite(float(value)):
            raise ResearchError(f"{owner}: parameter {key!r} value {value!r} is not finite")
        if spec.integer:
            if abs(float(value)) > MAX_WHOLE:
                raise ResearchError(
                    f"{owner}: parameter {key!r} value {value!r} must be <= {MAX_WHOLE:,} bars "
                    "(a longer period could never warm up on stored data)"
                )
            if float(value) != int(value):
                raise ResearchError(
                    f"{owner}: parameter {key!r} value {value!r} must be a whole number"
                )
            value = int(value)
        else:
            value = float(value)
        if value < spec.minimum:
            raise ResearchError(
                f"{owner}: parameter {key!r} value {value!r} must be >= {spec.minimum}"
            )
        out[key] = value
    if check is not None and (msg := check(out)):
        raise ResearchError(f"{owner}: {msg}")
    return out
