"""Importing vendor files into the warehouse (``primeflow import prints|chain --source ...``).

:data:`IMPORT_SOURCES` names the file formats: ``cboe`` (DataShop Option Trades CSVs and
``*_quotedata.csv`` chain exports) and ``dbn`` (Databento ``.dbn`` / ``.dbn.zst`` files).
:func:`read_prints` / :func:`read_chain` read files into ``flow.option_prints`` /
``market.option_chain`` rows; :func:`store` writes them, each (session, vendor) of a table
replaced in one transaction (``BEGIN; DELETE that session's rows of that vendor; INSERT;
COMMIT``), so importing a file twice stores it once and other vendors' rows are untouched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.schema.base import Table

IMPORT_SOURCES = ("cboe", "dbn")


def _expand(paths: Iterable[str | os.PathLike], pattern: str) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob(pattern) if q.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def read_prints(source: str, paths: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``flow.option_prints`` rows of the files and one report dict per file."""
    if source == "cboe":
        from primeflow_lib.vendors.cboe.trades import read_option_trades

        frames, reports = [], []
        for f in _expand(paths, "*.csv"):
            if f.name.endswith("_quotedata.csv"):
                continue
            df, rep = read_option_trades(f)
            frames.append(df)
            reports.append(rep.summary())
        if not frames:
            raise FileNotFoundError(f"no Cboe Option Trades CSV in {', '.join(map(str, paths))}")
        return pd.concat(frames, ignore_index=True), reports
    if source == "dbn":
        from primeflow_lib.vendors.databento.files import DbnFiles

        files = DbnFiles(paths)
        prints, schema = files.prints()
        return prints, [{"source": "dbn", "schema": schema, "rows": len(prints),
                         "files": sorted(f"{d.source} ({ds} {sch})" for (ds, sch), lst in files.by_schema.items()
                                         for d, _ in lst)}]
    raise ValueError(f"unknown import source {source!r} (known: {', '.join(IMPORT_SOURCES)})")


def read_chain(source: str, paths: Sequence[str | os.PathLike]) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``market.option_chain`` rows of the files and one report dict per file."""
    if source == "cboe":
        from primeflow_lib.vendors.cboe.quotedata import read_quotedata

        frames, reports = [], []
        for f in _expand(paths, "*_quotedata.csv"):
            ex = read_quotedata(f)
            frames.append(ex.chain)
            reports.append({"source": ex.source, "underlying": ", ".join(ex.chain["underlying"].unique()),
                            "session": str(ex.trade_date), "asof": str(ex.asof), "spot": ex.spot,
                            "rows": len(ex.chain)})
        if not frames:
            raise FileNotFoundError(f"no *_quotedata.csv in {', '.join(map(str, paths))}")
        return pd.concat(frames, ignore_index=True), reports
    if source == "dbn":
        from primeflow_lib.vendors.databento.files import DbnFiles

        chain = DbnFiles(paths).chain()
        return chain, [{"source": "dbn", "rows": len(chain)}]
    raise ValueError(f"unknown import source {source!r} (known: {', '.join(IMPORT_SOURCES)})")


def store(con: Any, table: Table, rows: pd.DataFrame) -> int:
    """Replace each (session, vendor) of ``table`` present in ``rows`` (one transaction each)."""
    from primeflow_lib import warehouse as db

    n = 0
    for (day, vendor), part in rows.groupby(["trade_date", "vendor"], sort=True):
        n += db.replace_partition(con, table, part.reset_index(drop=True), day, where={"vendor": vendor})
    return n
