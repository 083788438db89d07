"""Local DBN files as a vendor of their own (``--source dbn --path ...``, ``PRIMEFLOW_VENDOR=dbn``).

A path is a ``.dbn`` / ``.dbn.zst`` file or a folder of them (config ``vendors.dbn.path`` or
``PRIMEFLOW_DBN_PATH``). Each file's metadata says its dataset and schema; the files are used
as the historical API's responses would be (:mod:`primeflow_lib.vendors.databento.dbn`): prints
from the best print schema present (``tcbbo`` > ``tbbo`` > ``trades``) named by the
``definition`` files, the chain from ``definition`` + ``statistics``, bars from ``ohlcv-1d`` /
``ohlcv-1m`` of the other datasets. A file that is truncated or not DBN is an error naming it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.vendors.base import (
    BarSource,
    ChainSource,
    DataKind,
    PrintSource,
    VendorDataError,
    VendorError,
)
from primeflow_lib.vendors.databento import dbn
from primeflow_lib.vendors.http import regular_session_mask

PATH_ENV = "PRIMEFLOW_DBN_PATH"
NAME = "dbn"


def dbn_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The ``.dbn`` / ``.dbn.zst`` files named by ``paths`` (files, or folders searched
    recursively), sorted; a path that does not exist is an error."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and (q.name.endswith(".dbn") or q.name.endswith(".dbn.zst")))
        elif p.is_file():
            out.append(p)
        else:
            raise dbn.DbnError(f"{p}: no such file or folder")
    return out


class DbnFiles:
    """Decoded DBN files grouped by (dataset, schema)."""

    def __init__(self, paths: Iterable[str | os.PathLike]) -> None:
        self.by_schema: dict[tuple[str, str], list[tuple[dbn.DbnData, bytes]]] = {}
        for f in dbn_files(paths):
            body = f.read_bytes()
            d = dbn.decode(body, f.name)
            self.by_schema.setdefault((d.dataset, d.schema), []).append((d, body))

    def _get(self, dataset: str, schema: str) -> list[tuple[dbn.DbnData, bytes]]:
        return self.by_schema.get((dataset, schema), [])

    def contracts(self, dataset: str = dbn.OPRA) -> pd.DataFrame:
        parts = [dbn.contracts(d) for d, _ in self._get(dataset, "definition")]
        return pd.concat(parts, ignore_index=True).drop_duplicates("instrument_id", keep="last") if parts else \
            dbn.contracts(dbn.DbnData(dataset, "definition", pd.DataFrame(), ""))

    def prints(self, dataset: str = dbn.OPRA) -> tuple[pd.DataFrame, str]:
        """(prints, schema used); an error when no print file or no definition is present."""
        for schema in dbn.PRINT_SCHEMAS:
            files = self._get(dataset, schema)
            if files:
                defs = self.contracts(dataset)
                return pd.concat([dbn.prints(d, defs) for d, _ in files], ignore_index=True), schema
        raise dbn.DbnError(f"no {dataset} print file ({', '.join(dbn.PRINT_SCHEMAS)}) among the DBN files")

    def chain(self, dataset: str = dbn.OPRA) -> pd.DataFrame:
        stats = self._get(dataset, "statistics")
        if not stats:
            raise dbn.DbnError(f"no {dataset} statistics file (open interest) among the DBN files")
        oi = pd.concat([dbn.open_interest(d) for d, _ in stats], ignore_index=True)
        return dbn.chain(self.contracts(dataset), oi)

    def bars(self, schema: str) -> pd.DataFrame:
        parts = [dbn.bars(d, dbn.symbol_map(body)) for (ds, sch), lst in self.by_schema.items()
                 if sch == schema and ds != dbn.OPRA for d, body in lst]
        if not parts:
            raise dbn.DbnError(f"no equity {schema} file among the DBN files")
        return pd.concat(parts, ignore_index=True)


class DbnFileVendor(PrintSource, ChainSource, BarSource):
    """DBN files from a folder as a vendor (see the module doc)."""

    name = NAME
    kinds: frozenset[DataKind] = frozenset({"prints", "chain", "bars"})

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = Path(path).expanduser() if path else None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DbnFileVendor:
        v = (cfg.get("vendors") or {}).get("dbn") or {}
        return cls(os.environ.get(PATH_ENV) or v.get("path"))

    def check_ready(self, kind: DataKind) -> None:
        super().check_ready(kind)
        if self.path is None or not self.path.exists():
            raise VendorError(f"dbn: the DBN file or folder is not set or missing ({self.path}); set "
                              f"vendors.dbn.path or {PATH_ENV}", vendor=self.name)

    def _files(self) -> DbnFiles:
        self.check_ready("prints")
        return DbnFiles([self.path])

    @staticmethod
    def _days(df: pd.DataFrame, day_col: str, days: set, what: str, path) -> pd.DataFrame:
        out = df[df[day_col].isin(days)]
        if not len(out):
            raise VendorDataError(f"dbn: no {what} for {sorted(days)} in {path}", vendor=NAME)
        return out.reset_index(drop=True)

    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        p, _ = self._files().prints()
        p = p[p["underlying"].isin({u.upper() for u in underlyings})]
        return self._days(p, "trade_date", {trade_date}, "option prints", self.path)

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        c = self._files().chain()
        c = c[c["underlying"].isin({u.upper() for u in underlyings})]
        return self._days(c, "trade_date", {trade_date}, "open interest", self.path)

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        b = self._files().bars("ohlcv-1d")
        b = b[b["ticker"].isin(set(tickers)) & (b["trade_date"] >= start) & (b["trade_date"] <= end)]
        return self._days(b, "ticker", set(tickers), "daily bars", self.path)

    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        b = self._files().bars("ohlcv-1m")
        b = b[b["ticker"].isin(set(tickers)) & (b["trade_date"] >= start) & (b["trade_date"] <= end)]
        b = b[regular_session_mask(pd.to_datetime(b["ts"]))]
        return self._days(b, "ticker", set(tickers), "regular-session minute bars", self.path)
