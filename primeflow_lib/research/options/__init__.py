"""Options backtests (``mode: options``): structures as data, listed expiries and strikes,
Black-Scholes-Merton pricing from :mod:`primeflow_lib.pricing`, chain or realised-vol IV, fills
with a modelled spread, exits, and a compiled loop. User manual: ``docs/options.md``."""

from __future__ import annotations

from primeflow_lib.research.options.simulate import LEG_JSON_FIELDS, OptionsRun, simulate_options
from primeflow_lib.research.options.spec import OptionsSpec
from primeflow_lib.research.options.structures import STRUCTURES, Leg

__all__ = ["LEG_JSON_FIELDS", "STRUCTURES", "Leg", "OptionsRun", "OptionsSpec", "simulate_options"]
