"""CSV vendor: bars (and a universe ranked from them) from one file per ticker in a folder.

Folder: ``vendors.csv_dir`` in the config (default ``data/csv``; a relative path is relative to
the working directory). Layout::

    data/csv/
      SPY.csv        Date,Open,High,Low,Close,Volume[,VWAP]          daily bars, Date = YYYY-MM-DD
      SPY_1m.csv     Datetime,Open,High,Low,Close,Volume[,VWAP]      1-minute bars (bar start)
      BRK.B.csv      class shares keep the dot (warehouse form)

* Header names are matched case-insensitively; other columns are ignored; rows may be in any
  order (they are sorted). ``Datetime`` without an offset is New York wall time; with an offset
  (``2025-06-13 09:30:00-04:00``) it is converted to New York time. Intraday bars outside the
  regular session are dropped.
* A value that cannot be read (empty, not a number, NaN/inf, bad date) or a duplicate date
  raises :class:`VendorDataError` naming the file, the line, the field and the value. Values
  that parse but look wrong (negative volume, high < low) are left for the validation step,
  which quarantines them with a reason.
* A ticker is used in a file name only if it matches the strict warehouse pattern (``SPY``,
  ``BRK.B``: letters and digits, at most one ``.`` suffix) and the resolved path stays inside the
  folder, so ``../x``, ``/etc/passwd`` or a symlink out of the folder are rejected.
* A requested ticker without a file, or without rows in the range, is named in one
  :class:`VendorDataError` (the others are on ``err.partial``).

Universe: every ``<TICKER>.csv`` in the folder, ranked by mean daily volume over the lookback
sessions before the trade date (a missing day counts as 0).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, UNIVERSE
from primeflow_lib.vendors.base import (
    BarSource,
    DataKind,
    UniverseSource,
    UnknownTickerError,
    VendorDataError,
    VendorError,
)
from primeflow_lib.vendors.http import (
    ET,
    TICKER_RE,
    make_frame,
    missing_data_error,
    regular_session_mask,
    sessions_before,
)

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
INTRADAY_SUFFIX = "_1m"
_LABELS = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "volume": "Volume",
    "vwap": "VWAP",
}


class CsvVendor(UniverseSource, BarSource):
    """Bars from CSV files (see the module doc for the layout and rules).

    Args:
        folder: the folder holding the files.
    """

    name = "csv"
    kinds: frozenset[DataKind] = frozenset({"universe", "bars"})

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CsvVendor:
        """Build from the loaded config (``cfg["vendors"]["csv_dir"]``)."""
        return cls((cfg.get("vendors") or {}).get("csv_dir") or "data/csv")

    def check_ready(self, kind: DataKind) -> None:
        """Fail now if ``kind`` is not offered or the folder does not exist."""
        super().check_ready(kind)
        if not self.folder.is_dir():
            raise VendorError(
                f"csv: folder {str(self.folder)!r} (config vendors.csv_dir) does not exist or is "
                "not a directory",
                vendor=self.name,
            )

    # -- paths -------------------------------------------------------------------------------

    def path_for(self, ticker: str, suffix: str = "") -> Path:
        """The file of ``ticker`` (``suffix`` ``''`` daily, ``'_1m'`` intraday).

        Raises:
            UnknownTickerError: the symbol does not match the strict pattern, or the resolved
                path would leave the folder.
        """
        sym = ticker.strip().upper() if isinstance(ticker, str) else ""
        if not TICKER_RE.fullmatch(sym) or suffix not in ("", INTRADAY_SUFFIX):
            raise UnknownTickerError(
                f"csv: {ticker!r} is not a valid ticker for a file name (expected e.g. 'SPY' or "
                "'BRK.B')",
                vendor=self.name,
            )
        root = self.folder.resolve()
        path = (root / f"{sym}{suffix}.csv").resolve()
        if not path.is_relative_to(root):
            # only reachable through a symlink inside the folder pointing out of it
            raise UnknownTickerError(
                f"csv: the file for {sym!r} resolves outside {str(root)!r}; refused",
                vendor=self.name,
            )
        return path

    # -- parsing -----------------------------------------------------------------------------

    def read_file(self, path: Path, time_field: str) -> pd.DataFrame:
        """Parse one file strictly. Returns columns ``ts`` (naive ET; midnight for daily),
        open, high, low, close, volume, vwap, sorted by ``ts``."""
        name = path.name
        try:
            fh = path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise VendorError(
                f"csv: cannot open {name}: {exc.strerror}", vendor=self.name
            ) from None
        with fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                raise VendorDataError(
                    f"csv: {name} is empty (no header)", vendor=self.name
                ) from None
            except (csv.Error, UnicodeDecodeError) as exc:
                raise VendorDataError(
                    f"csv: {name}: unreadable header: {exc}", vendor=self.name
                ) from None
            cols = {h.strip().lower(): i for i, h in enumerate(header)}
            need = (time_field.lower(), *PRICE_COLUMNS)
            missing = [c for c in need if c not in cols]
            if missing:
                raise VendorDataError(
                    f"csv: {name}: missing column(s) {missing}; the header must have "
                    f"{time_field},Open,High,Low,Close,Volume[,VWAP] (got {header})",
                    vendor=self.name,
                )
            rows: list[dict[str, Any]] = []
            seen: dict[pd.Timestamp, int] = {}
            try:
                for line in reader:
                    if not any(c.strip() for c in line):
                        continue  # blank lines (e.g. a trailing newline) carry nothing
                    rows.append(self._row(name, reader.line_num, line, cols, time_field, seen))
            except (csv.Error, UnicodeDecodeError) as exc:
                raise VendorDataError(
                    f"csv: {name}: line {reader.line_num}: unreadable: {exc}", vendor=self.name
                ) from None
        df = pd.DataFrame(rows, columns=["ts", *PRICE_COLUMNS, "vwap"])
        if df.empty:
            raise VendorDataError(f"csv: {name} has a header but no rows", vendor=self.name)
        df["ts"] = pd.to_datetime(df["ts"]).astype("datetime64[us]")
        return df.sort_values("ts", kind="stable").reset_index(drop=True)

    def _row(
        self,
        name: str,
        line_no: int,
        line: list[str],
        cols: Mapping[str, int],
        time_field: str,
        seen: dict[pd.Timestamp, int],
    ) -> dict[str, Any]:
        def cell(field: str) -> str:
            i = cols[field]
            return line[i].strip() if i < len(line) else ""

        def bad(field: str, value: str, why: str) -> VendorDataError:
            return VendorDataError(
                f"csv: {name}: line {line_no}: field {field!r} has value {value!r} ({why})",
                vendor=self.name,
            )

        raw_t = cell(time_field.lower())
        try:
            if time_field == "Date":
                ts = pd.Timestamp(dt.date.fromisoformat(raw_t))
            else:
                parsed = dt.datetime.fromisoformat(raw_t)
                if parsed.tzinfo is not None:
                    parsed = parsed.astimezone(ET).replace(tzinfo=None)
                ts = pd.Timestamp(parsed)
        except ValueError:
            fmt = "YYYY-MM-DD" if time_field == "Date" else "YYYY-MM-DD HH:MM[:SS][+HH:MM]"
            raise bad(time_field, raw_t, f"expected {fmt}") from None
        if ts in seen:
            raise bad(time_field, raw_t, f"duplicate of line {seen[ts]}")
        seen[ts] = line_no
        row: dict[str, Any] = {"ts": ts}
        for field in (*PRICE_COLUMNS, "vwap"):
            if field == "vwap" and ("vwap" not in cols or cell("vwap") == ""):
                row["vwap"] = float("nan")  # VWAP is optional, per file and per row
                continue
            raw = cell(field)
            try:
                val = float(raw)
            except ValueError:
                raise bad(_LABELS[field], raw, "not a number") from None
            if math.isnan(val) or math.isinf(val):
                raise bad(_LABELS[field], raw, "not a finite number")
            row[field] = val
        return row

    # -- bars --------------------------------------------------------------------------------

    def _bars(
        self, tickers: Sequence[str], start: dt.date, end: dt.date, suffix: str, what: str
    ) -> tuple[list[pd.DataFrame], dict[str, str]]:
        if isinstance(tickers, str):
            raise VendorError(
                f"csv: tickers must be a list, got the string {tickers!r}", vendor=self.name
            )
        paths = [(t, self.path_for(t, suffix)) for t in tickers]  # validates every symbol first
        if not paths:
            raise VendorError("csv: no tickers requested", vendor=self.name)
        out, failed = [], {}
        for t, path in paths:
            sym = t.strip().upper()
            if not path.is_file():
                failed[sym] = f"no file {path.name} in {self.folder}"
                continue
            df = self.read_file(path, "Date" if not suffix else "Datetime")
            days = df["ts"].dt.date
            df = df[((days >= start) & (days <= end)).to_numpy()]
            if suffix:
                df = df[regular_session_mask(df["ts"]).to_numpy()]
            if df.empty:
                failed[sym] = f"{path.name} has no {what} between {start} and {end}"
                continue
            out.append(df.assign(ticker=sym, trade_date=df["ts"].dt.date, vendor=self.name))
        return out, failed

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars from ``<TICKER>.csv``."""
        out, failed = self._bars(tickers, start, end, "", "daily bars")
        frame = make_frame(OHLCV_DAILY, pd.concat(out) if out else [])
        if failed:
            raise missing_data_error(self.name, "daily bars", failed, frame)
        return frame

    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Regular-session 1-minute bars from ``<TICKER>_1m.csv``."""
        out, failed = self._bars(tickers, start, end, INTRADAY_SUFFIX, "regular-session bars")
        frame = make_frame(OHLCV_INTRADAY, pd.concat(out) if out else [])
        if failed:
            raise missing_data_error(self.name, "minute bars", failed, frame)
        return frame

    # -- universe ----------------------------------------------------------------------------

    def tickers(self) -> list[str]:
        """Tickers that have a daily file in the folder (names not matching the pattern are
        skipped with a warning)."""
        if not self.folder.is_dir():
            raise VendorError(
                f"csv: folder {str(self.folder)!r} (vendors.csv_dir) does not exist",
                vendor=self.name,
            )
        found, skipped = [], []
        for p in sorted(self.folder.glob("*.csv")):
            stem = p.name[: -len(".csv")]
            if stem.endswith(INTRADAY_SUFFIX):
                continue
            (found if TICKER_RE.fullmatch(stem) else skipped).append(stem)
        if skipped:
            log.warning("csv: files whose names are not tickers were skipped: %s", skipped[:20])
        return found

    def top_volume_tickers(
        self, trade_date: dt.date, size: int, lookback: int = 20
    ) -> pd.DataFrame:
        """Top ``size`` tickers of the folder by mean daily volume over the ``lookback``
        sessions before ``trade_date``."""
        if size < 1:
            raise VendorError("csv: universe size must be >= 1", vendor=self.name)
        days = sessions_before(trade_date, lookback)
        names = self.tickers()
        if not names:
            raise VendorDataError(f"csv: no <TICKER>.csv file in {self.folder}", vendor=self.name)
        scored = []
        want = set(days)
        for t in names:
            df = self.read_file(self.path_for(t), "Date")
            d = df["ts"].dt.date
            vol = df.loc[d.isin(want).to_numpy(), "volume"].sum()
            last = df.loc[(d == days[-1]).to_numpy(), "close"]
            if vol > 0:
                scored.append(
                    (t, float(vol) / len(days), float(last.iloc[0]) if len(last) else float("nan"))
                )
        scored.sort(key=lambda x: (-x[1], x[0]))
        if not scored:
            raise VendorDataError(
                f"csv: no file in {self.folder} has volume in the {lookback} sessions before "
                f"{trade_date}",
                vendor=self.name,
            )
        rows = [
            {
                "trade_date": trade_date,
                "rank": i + 1,
                "ticker": t,
                "avg_volume": v,
                "last_close": c,
                "vendor": self.name,
            }
            for i, (t, v, c) in enumerate(scored[:size])
        ]
        return make_frame(UNIVERSE, rows)


__all__ = ["CsvVendor"]
