"""The vendor interface: one abstract source per kind of data, one implementation per vendor.

Kinds of data (``DataKind``):

* ``universe``  -> :meth:`UniverseSource.top_volume_tickers`
* ``bars``      -> :meth:`BarSource.daily_bars` and :meth:`BarSource.intraday_bars`
* ``chain``     -> :meth:`ChainSource.option_chain`
* ``prints``    -> :meth:`PrintSource.option_prints`

Every method returns a pandas DataFrame whose columns are exactly the declared warehouse
columns of the target table (``primeflow_lib.schema``), including ``vendor``. Dates are
``datetime.date`` values, timestamps are naive America/New_York wall time. A vendor never returns
an empty frame to mean "something went wrong": errors are raised as :class:`VendorError`
subclasses with a message that names the vendor, the request and the reason (keys redacted).
"""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

DataKind = Literal["universe", "bars", "chain", "prints"]
DATA_KINDS: tuple[DataKind, ...] = ("universe", "bars", "chain", "prints")


class VendorError(RuntimeError):
    """A vendor could not deliver what was asked; the message says which vendor, what and why."""

    def __init__(self, message: str, *, vendor: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.status = status


class VendorAuthError(VendorError):
    """The key is missing, unknown or revoked (HTTP 401, or no key in the environment)."""


class VendorPlanError(VendorError):
    """The key is valid but the plan lacks the feature (HTTP 403 NOT_AUTHORIZED, premium endpoint)."""


class VendorRateLimitError(VendorError):
    """Still rate-limited after the allowed retries (HTTP 429 or a throttle body)."""


class VendorDataError(VendorError):
    """The response could not be decoded or does not have the documented shape."""


class MissingDataError(VendorDataError):
    """Some requested tickers came back with no data. ``failed_tickers`` names them; ``partial``
    holds the rows that did arrive, so a caller can keep them *explicitly* (never silently)."""

    def __init__(
        self,
        message: str,
        *,
        vendor: str = "",
        failed_tickers: Sequence[str] = (),
        partial: pd.DataFrame | None = None,
    ) -> None:
        super().__init__(message, vendor=vendor)
        self.failed_tickers = list(failed_tickers)
        self.partial = partial


class UnknownTickerError(VendorError):
    """The vendor does not know a requested ticker."""


class Vendor(abc.ABC):
    """Base class of every vendor. ``name`` is what gets stored in every row's ``vendor`` column."""

    name: str = ""
    #: kinds of data this vendor can deliver
    kinds: frozenset[DataKind] = frozenset()

    @classmethod
    @abc.abstractmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Vendor:
        """Build the vendor from the loaded config (``primeflow_lib.config.load_config``).
        Must not call the network; key problems are reported by :meth:`check_ready`."""

    def check_ready(self, kind: DataKind) -> None:
        """Raise a clear error now (at start) if this vendor cannot serve ``kind`` as configured,
        e.g. a missing API key naming the environment variable. Default: only checks the kind."""
        if kind not in self.kinds:
            raise VendorError(
                f"vendor {self.name!r} does not provide {kind!r} data "
                f"(it provides: {', '.join(sorted(self.kinds)) or 'nothing'})",
                vendor=self.name,
            )


class UniverseSource(Vendor):
    @abc.abstractmethod
    def top_volume_tickers(self, trade_date: dt.date, size: int, lookback: int = 20) -> pd.DataFrame:
        """Top ``size`` tickers by mean share volume over the ``lookback`` sessions *before*
        ``trade_date``. Columns: ``market.universe``."""


class BarSource(Vendor):
    @abc.abstractmethod
    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars for ``tickers`` on sessions ``start``..``end`` inclusive. Columns:
        ``market.ohlcv_daily``."""

    @abc.abstractmethod
    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Regular-session 1-minute bars for sessions ``start``..``end``. Columns:
        ``market.ohlcv_intraday``."""


class ChainSource(Vendor):
    @abc.abstractmethod
    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """End-of-day chain snapshot per underlying. Columns: ``market.option_chain``."""


class PrintSource(Vendor):
    @abc.abstractmethod
    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Every option trade of the session on the underlyings' contracts, in the order received
        per contract. Columns: ``flow.option_prints``."""
