"""Where ``market.l2_features`` comes from: the ``l2`` config section, local DBN files and the
Databento historical API (the minute features themselves: :mod:`primeflow_lib.market.l2_features`).

Config (``l2``)::

    l2:
      source: null          # null = no L2 source | dbn | databento
      files: {}             # dbn: ticker -> DBN file(s) or folder(s) of MBO / MBP-10 records
      tickers: []           # databento: tickers asked for each session
      dataset: XNAS.ITCH    # databento: equities dataset
      schema: mbp-10        # mbp-10 | mbo (both sources: which records are used)
      depth_levels: 5       # levels per side in the depth imbalance
      max_age_minutes: 5    # flow context: the newest minute used must have closed this recently

* ``dbn``: for each ticker, its ``.dbn`` / ``.dbn.zst`` files (folders searched recursively)
  whose metadata says schema ``l2.schema`` and whose time span covers the session; a file of
  another schema, of other symbols, or of other days is skipped and said so in the notes. A file
  with several symbols is read through its symbology (only the ticker's instrument is used).
  Files are read in the order of their start time, as one stream, ``vendor`` = ``dbn``.
* ``databento``: one ``timeseries.get_range`` request per session for all ``l2.tickers``
  (``raw_symbol``, 00:00-24:00 New York), ``vendor`` = ``databento``; the response's symbology
  maps instruments to tickers.

A configured ticker without records for the session gets no rows and a note (the flow context
then leaves its ``l2_*`` fields null); nothing is made up. Rows of other sessions in a file are
not returned (they belong to those sessions' partitions).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.config import ConfigError
from primeflow_lib.flow.l2book import open_dbn
from primeflow_lib.market.l2_features import L2_SCHEMAS, NY, L2MinuteBuilder, rows_frame
from primeflow_lib.vendors.databento.files import NAME as DBN_VENDOR
from primeflow_lib.vendors.databento.files import dbn_files

#: values of ``l2.source`` (besides null: no L2 source)
L2_SOURCES = ("dbn", "databento")


@dataclass(frozen=True)
class L2Settings:
    """The validated ``l2`` config section (see the module doc)."""

    source: str
    files: Mapping[str, tuple[str, ...]]
    tickers: tuple[str, ...]
    dataset: str
    schema: str
    depth_levels: int
    max_age_minutes: int

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> L2Settings | None:
        """The settings, or None when ``l2.source`` is null (no L2 source configured).

        Raises:
            ConfigError: an unknown source or schema, a non-positive number, or a source
                without what it needs (``l2.files`` for dbn, ``l2.tickers`` for databento).
        """
        l2 = cfg["l2"]
        src = (l2.get("source") or "").strip()
        if not src:
            return None
        if src not in L2_SOURCES:
            raise ConfigError(f"key 'l2.source' must be null or one of {', '.join(L2_SOURCES)}, got {src!r}")
        if l2["schema"] not in L2_SCHEMAS:
            raise ConfigError(f"key 'l2.schema' must be one of {', '.join(L2_SCHEMAS)}, got {l2['schema']!r}")
        for k in ("depth_levels", "max_age_minutes"):
            if int(l2[k]) < 1:
                raise ConfigError(f"key 'l2.{k}' must be >= 1, got {l2[k]!r}")
        files = {str(t).upper(): tuple(p) for t, p in (l2.get("files") or {}).items()}
        tickers = tuple(sorted({str(t).strip().upper() for t in l2.get("tickers") or [] if str(t).strip()}))
        if src == "dbn" and not files:
            raise ConfigError("key 'l2.files' is empty: l2.source dbn needs ticker -> DBN file(s) or folder(s)")
        if src == "databento" and not tickers:
            raise ConfigError("key 'l2.tickers' is empty: l2.source databento needs the tickers to request")
        return cls(src, files, tickers, str(l2["dataset"]), str(l2["schema"]), int(l2["depth_levels"]),
                   int(l2["max_age_minutes"]))

    @property
    def names(self) -> list[str]:
        """The tickers this source gives features for."""
        return sorted(self.files) if self.source == "dbn" else list(self.tickers)

    def describe(self) -> str:
        """One line for logs and metadata: source, schema, dataset, tickers."""
        where = "local DBN files" if self.source == "dbn" else f"Databento historical {self.dataset}"
        return f"{where}, schema {self.schema}, tickers {', '.join(self.names)}"


@dataclass
class L2Day:
    """One session's features: ``rows`` (``market.l2_features``), ``notes`` (what was skipped
    or missing, for the user), ``stats`` (counts per ticker) and ``issues`` (book integrity
    problems, one line each)."""

    day: dt.date
    rows: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)


def _day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[00:00, next 00:00) New York of ``day`` in ns since the epoch."""
    return (pd.Timestamp(day).tz_localize(NY).value,
            pd.Timestamp(day + dt.timedelta(days=1)).tz_localize(NY).value)


def symbology(meta: Any, day: dt.date) -> dict[int, str]:
    """instrument id -> symbol of a DBN stream's metadata mappings valid on ``day`` (intervals
    are [start_date, end_date))."""
    out: dict[int, str] = {}
    for sym, intervals in (getattr(meta, "mappings", None) or {}).items():
        for iv in intervals:
            lo, hi = iv.get("start_date"), iv.get("end_date")
            if (lo is not None and day < lo) or (hi is not None and day >= hi):
                continue
            try:
                out[int(iv["symbol"])] = str(sym).upper()
            except (KeyError, ValueError):
                continue
    return out


def _finish(day: dt.date, builder: L2MinuteBuilder, rows: pd.DataFrame, names: Sequence[str],
            notes: list[str], schema: str) -> L2Day:
    other = rows["trade_date"].astype(str) != str(day) if len(rows) else pd.Series([], dtype=bool)
    if other.any():
        notes.append(f"{int(other.sum())} minute row(s) of other sessions in the records were left for their "
                     "own partitions")
        rows = rows[~other.to_numpy()].reset_index(drop=True)
    stats = {}
    for t in names:
        r = rows[rows["ticker"] == t]
        stats[t] = {"minutes": int(len(r)), "messages": int(r["messages"].sum()) if len(r) else 0,
                    "book_issues": int(r["book_issues"].sum()) if len(r) else 0,
                    "minutes_out_of_sync": int((~r["synced"].astype(bool)).sum()) if len(r) else 0}
        if not len(r):
            notes.append(f"{t}: no {schema} records on {day}: no "
                         "L2 features (the flow context leaves its l2_* fields null)")
    issues = [f"{t}: sequence {i.sequence} at {pd.Timestamp(i.ts_event, unit='ns', tz='UTC').tz_convert(NY)}: "
              f"{i.reason}" for t, i in builder.issues]
    if builder.stats["late_records"]:
        notes.append(f"{builder.stats['late_records']} record(s) received out of order were counted in the "
                     "open minute")
    return L2Day(day, rows, notes, stats, issues)


def l2_from_files(paths: Sequence[str | Path], ticker: str, day: dt.date, *, schema: str,
                  depth_levels: int = 5) -> L2Day:
    """``ticker``'s features of ``day`` from the DBN files or folders ``paths`` (see the
    module doc). Raises ``FileNotFoundError`` / ``ValueError`` for a missing or unreadable file."""
    lo, hi = _day_bounds_ns(day)
    ticker = ticker.upper()
    notes: list[str] = []
    chosen: list[tuple[int, Path, Any, Iterator]] = []
    for f in dbn_files(paths):
        meta, recs = open_dbn(f)
        got = str(meta.schema)
        if got != schema:
            if got in L2_SCHEMAS:
                notes.append(f"{f.name}: {got} records skipped (l2.schema is {schema})")
            continue
        start, end = int(meta.start), meta.end
        if start >= hi or (end is not None and int(end) <= lo):
            continue
        syms = [str(s).upper() for s in meta.symbols or []]
        if ticker not in syms:
            notes.append(f"{f.name}: holds {', '.join(syms) or 'no named symbol'}, not {ticker}: skipped")
            continue
        chosen.append((start, f, meta, recs))
    chosen.sort(key=lambda c: (c[0], str(c[1])))
    maps = [symbology(m, day) for _, _, m, _ in chosen]
    if chosen and all(maps):
        symbols = {k: v for mp in maps for k, v in mp.items()}
        kw: dict[str, Any] = {"symbols": symbols, "wanted": [ticker]}
    else:
        for (_, f, m, _), mp in zip(chosen, maps, strict=True):
            if not mp and len(m.symbols or []) != 1:
                raise ValueError(f"{f}: field mappings: the file holds several symbols ({', '.join(m.symbols)}) "
                                 "but no symbology to tell their instruments apart")
        kw = {"ticker": ticker}
    source = ", ".join(str(f) for _, f, _, _ in chosen)
    builder = L2MinuteBuilder(depth_levels=depth_levels, vendor=DBN_VENDOR,
                              dataset=str(chosen[0][2].dataset) if chosen else "", source=source, **kw)
    rows = rows_frame(builder.feed_many(itertools.chain.from_iterable(r for _, _, _, r in chosen)))
    return _finish(day, builder, rows, [ticker], notes, schema)


def l2_from_databento(vendor: Any, tickers: Sequence[str], day: dt.date, *, dataset: str, schema: str,
                      depth_levels: int = 5) -> L2Day:
    """The features of ``tickers`` on ``day`` from one Databento historical request
    (:meth:`primeflow_lib.vendors.databento.vendor.DatabentoVendor.book_records`)."""
    names = sorted({t.upper() for t in tickers})
    body = vendor.book_records(names, day, schema=schema, dataset=dataset)
    label = f"databento {dataset} {schema} {day}"
    meta, recs = open_dbn(body, name=label)
    builder = L2MinuteBuilder(symbols=symbology(meta, day), wanted=names, depth_levels=depth_levels,
                              vendor="databento", dataset=dataset,
                              source=f"Databento historical timeseries.get_range {dataset} {schema} {day}")
    rows = rows_frame(builder.feed_many(recs))
    return _finish(day, builder, rows, names, [], schema)


def build_l2_day(settings: L2Settings, day: dt.date, cfg: Mapping[str, Any], vendor: Any = None) -> L2Day:
    """The session's ``market.l2_features`` rows from the configured source. ``vendor``: a
    Databento vendor to use (default: built from ``cfg``; tests pass one aimed at a local
    server)."""
    if settings.source == "dbn":
        parts = [l2_from_files(settings.files[t], t, day, schema=settings.schema,
                               depth_levels=settings.depth_levels) for t in settings.names]
        frames = [p.rows for p in parts if len(p.rows)]
        out = L2Day(day, pd.concat(frames, ignore_index=True) if frames else rows_frame([]))
        for p in parts:
            out.notes += p.notes
            out.stats.update(p.stats)
            out.issues += p.issues
        return out
    if vendor is None:
        from primeflow_lib.vendors.databento.vendor import DatabentoVendor

        vendor = DatabentoVendor.from_config(cfg)
    return l2_from_databento(vendor, settings.tickers, day, dataset=settings.dataset, schema=settings.schema,
                             depth_levels=settings.depth_levels)
