"""Widgets every page shares: the read-copy guard, the synthetic-data notice, library errors
shown as the CLI shows them, cached reads keyed by the read copy's version, metric tiles."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from primeflow_lib.calendar import NotASessionError
from primeflow_lib.config import ConfigError
from primeflow_lib.market.cache import CacheError
from primeflow_lib.market.fetch import FetchError
from primeflow_lib.redact import shorten
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.report import format_metric  # the CLI's metric formatting
from primeflow_lib.vendors.base import VendorError
from primeflow_lib.warehouse import WarehouseError
from primeflow_lib.workbench import readcopy

#: errors whose message is meant for the user (the CLI prints the same text)
USER_ERRORS = (ResearchError, WarehouseError, CacheError, NotASessionError, KeyError, ConfigError,
               VendorError, FetchError)

T = TypeVar("T")
_REGISTRY: dict[str, Callable[..., Any]] = {}


def message(exc: BaseException) -> str:
    """The user-facing text of a library error (KeyError without its quotes)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


@contextlib.contextmanager
def user_errors(expected: tuple[type[BaseException], ...] = USER_ERRORS) -> Iterator[None]:
    """Show a library error on the page (``st.error``, the CLI's one-line message) instead of a
    traceback; anything else is shown in one line too (its type and message, never a stack
    with server paths), as the CLI's ``internal error`` net does.

    Args:
        expected: the error types whose message is shown as is (default :data:`USER_ERRORS`).
    """
    try:
        yield
    except expected as exc:
        st.error(message(exc))
    except Exception as exc:  # noqa: BLE001 - the net (st.stop/st.rerun are BaseExceptions: they pass)
        st.error(f"internal error: {type(exc).__name__}: {shorten(exc, 500)} (a bug in PrimeFlow: "
                 "please report it)")


def require_read_copy() -> None:
    """Stop the page with the "run `make demo`" message when the read copy does not exist."""
    try:
        readcopy.require()
    except readcopy.ReadCopyMissingError as exc:
        st.warning(message(exc), icon=":material/database_off:")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=256)
def _call(key: str, version: tuple[str, int], args: tuple, kwargs: tuple) -> Any:
    return _REGISTRY[key](*args, **dict(kwargs))


def cached(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` (a read function of :mod:`primeflow_lib.workbench`) memoised until the read copy
    is republished: the cache key includes the read copy's path and modification time."""
    key = f"{fn.__module__}.{fn.__qualname__}"
    _REGISTRY[key] = fn

    def call(*args: Any, **kwargs: Any) -> T:
        return _call(key, readcopy.version(), args, tuple(sorted(kwargs.items())))

    call.__doc__ = fn.__doc__
    return call


def synthetic_notice(vendor_names: Iterable[str], what: str = "These rows") -> None:
    """Say plainly when the rows shown come from the synthetic vendor (and name the vendors)."""
    names = sorted(set(vendor_names))
    if readcopy.is_synthetic(names):
        st.warning(f"Synthetic data: {what} come from the synthetic vendor (generated for the "
                   f"demo, not market data). Vendors: {', '.join(names)}.",
                   icon=":material/science:")
    elif names:
        st.caption(f"Vendor: {', '.join(names)}")


def metric_tiles(metrics: dict[str, Any], names: Iterable[str]) -> None:
    """A row of ``st.metric`` tiles, values formatted like ``primeflow backtest`` prints them."""
    names = [n for n in names if n in metrics]
    for col, name in zip(st.columns(len(names)), names, strict=True):
        col.metric(name.replace("_", " "), format_metric(name, metrics[name]))


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """Every metric as text, one row each (the CLI's format)."""
    return pd.DataFrame({"metric": list(metrics),
                         "value": [format_metric(k, v) for k, v in metrics.items()]})


def finite(value: Any) -> bool:
    """True for a real, finite number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def job_status(job_id: int | None, key: str) -> None:
    """The progress of a background job (:mod:`primeflow_lib.workbench.jobs`): a progress bar and
    its last lines while it runs (the page refreshes itself every second), then its outcome
    (the library's one-line message when it failed)."""
    from primeflow_lib.workbench import jobs

    job = jobs.get(job_id) if job_id is not None else None
    if job is None:
        return

    @st.fragment(run_every=1.0 if job.running else None)
    def show() -> None:
        j = jobs.get(job.id)
        if j is None:
            return
        st.progress(min(max(j.progress, 0.0), 1.0), text=f"{j.label}: {j.status}")
        if j.lines:
            st.code("\n".join(j.lines[-8:]), language=None)
        if j.status == "failed":
            st.error(j.error or "failed")
        elif j.status == "done":
            st.success(f"{j.label}: done in {(j.finished or j.started) - j.started:,.0f} s")

    show()
