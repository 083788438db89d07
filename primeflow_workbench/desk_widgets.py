"""What the trader's-desk pages share: their errors shown as the CLI shows them, the config
they read, and a session picker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import streamlit as st
import yaml

from primeflow_lib.alerts.routing import AlertConfigError
from primeflow_lib.config import ConfigError, load_config
from primeflow_lib.flow.criteria import CriteriaError
from primeflow_lib.flow.enrich import DeskConfigError
from primeflow_lib.flow.tape import TapeError
from primeflow_lib.flow.tide import TideError
from primeflow_lib.flow.volatility import VolatilityInputError
from primeflow_workbench import widgets

DESK_ERRORS = (*widgets.USER_ERRORS, ConfigError, AlertConfigError, CriteriaError, DeskConfigError, TapeError,
               TideError, VolatilityInputError, yaml.YAMLError)
#: the config sections the desk reads (plain values: hashable for the page cache)
SECTIONS = ("desk", "tape", "earnings", "flow", "volatility", "market_regime", "alerts", "gex")


@contextlib.contextmanager
def desk_errors() -> Iterator[None]:
    """Show a library error on the page (``st.error``) instead of a traceback."""
    try:
        yield
    except DESK_ERRORS as exc:
        st.error(widgets.message(exc))


def desk_config() -> dict[str, Any]:
    """The loaded config (``PRIMEFLOW_CONFIG`` or ./config.yaml), the desk's sections only, no
    API keys."""
    cfg = load_config(with_api_keys=False)
    return {k: cfg[k] for k in SECTIONS} | {"source": cfg["source"]}
