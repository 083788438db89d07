"""Cboe files in a folder as a vendor (``PRIMEFLOW_VENDOR=cboe`` or ``vendors.prints: cboe``).

The folder (config ``vendors.cboe.path``, or ``PRIMEFLOW_CBOE_PATH``) holds DataShop "Option
Trades" files (``*.csv`` with the trades header; one per session) and chain exports
(``*_quotedata.csv``). :meth:`CboeFileVendor.option_prints` returns the rows of the trades files
whose session is the asked one, for the asked underlyings; :meth:`option_chain` the exports
whose snapshot session is the asked one. Nothing matching is an error naming the folder (never
an empty frame that would look like a quiet day).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.vendors.base import (
    ChainSource,
    DataKind,
    PrintSource,
    VendorDataError,
    VendorError,
)
from primeflow_lib.vendors.cboe.quotedata import read_quotedata
from primeflow_lib.vendors.cboe.trades import VENDOR, read_option_trades

PATH_ENV = "PRIMEFLOW_CBOE_PATH"


def _is_trades_file(p: Path) -> bool:
    with p.open(encoding="utf-8-sig") as fh:
        return fh.readline().lower().startswith("underlying_symbol,quote_datetime")


class CboeFileVendor(PrintSource, ChainSource):
    """Cboe DataShop trades and chain exports from a folder (see the module doc)."""

    name = VENDOR
    kinds: frozenset[DataKind] = frozenset({"prints", "chain"})

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = Path(path).expanduser() if path else None
        #: import reports of the files read by the last option_prints call
        self.reports: list = []

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CboeFileVendor:
        v = (cfg.get("vendors") or {}).get("cboe") or {}
        return cls(os.environ.get(PATH_ENV) or v.get("path"))

    def check_ready(self, kind: DataKind) -> None:
        super().check_ready(kind)
        if self.path is None or not self.path.is_dir():
            raise VendorError(f"cboe: the folder of Cboe files is not set or missing ({self.path}); set "
                              f"vendors.cboe.path or {PATH_ENV}", vendor=self.name)

    def _files(self, pattern: str) -> list[Path]:
        self.check_ready("prints")
        assert self.path is not None
        return sorted(p for p in self.path.rglob(pattern) if p.is_file())

    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        want = {u.upper() for u in underlyings}
        frames, self.reports = [], []
        for f in self._files("*.csv"):
            if f.name.endswith("_quotedata.csv") or not _is_trades_file(f):
                continue
            df, rep = read_option_trades(f)
            df = df[(df["trade_date"] == trade_date) & df["underlying"].isin(want)]
            if len(df):
                frames.append(df)
                self.reports.append(rep)
        if not frames:
            raise VendorDataError(f"cboe: no Option Trades rows for {sorted(want)} on {trade_date} in "
                                  f"{self.path}", vendor=self.name)
        return pd.concat(frames, ignore_index=True)

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        want = {u.upper() for u in underlyings}
        frames = []
        for f in self._files("*_quotedata.csv"):
            ex = read_quotedata(f)
            c = ex.chain[ex.chain["underlying"].isin(want)]
            if ex.trade_date == trade_date and len(c):
                frames.append(c)
        if not frames:
            raise VendorDataError(f"cboe: no chain export of {sorted(want)} for the session {trade_date} "
                                  f"in {self.path}", vendor=self.name)
        return pd.concat(frames, ignore_index=True)
