"""Shared plumbing for vendor-ingest assets: per-session fetch -> validate -> atomic write,
then the stored-partition checks, progress in the run log and metadata for the UI."""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Sequence

import dagster as dg
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.market import cache, quality
from primeflow_lib.schema import Table
from primeflow_lib.vendors.base import MissingDataError
from primeflow_pipelines.defs.resources import WarehouseResource

# Checks that apply to a table, by the columns it declares (names match quality.run_checks).
_BASE_CHECKS = {
    "non_empty": "every session of the partition has rows",
    "unique_key": "the declared key is unique",
}


def check_specs(t: Table, asset_key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """Blocking checks for a market/flow table: bad data stops downstream assets in the run."""
    names = dict(_BASE_CHECKS)
    cols = set(t.column_names)
    if {"open", "high", "low", "close"} <= cols:
        names["ohlc_consistent"] = "low <= open, close <= high; prices > 0; volume >= 0"
    if quality.ts_rule(t)[0]:
        names["in_session"] = "timestamps inside the regular session"
    if "option_symbol" in cols:
        names["symbol_parses"] = "option symbols are OCC symbols"
    return [dg.AssetCheckSpec(n, asset=asset_key, description=d, blocking=True) for n, d in names.items()]


def preview_md(df: pd.DataFrame, n: int = 8) -> dg.MetadataValue:
    """A small markdown preview of a frame for asset metadata."""
    if df.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(df.head(n).to_markdown(index=False, floatfmt=".4g"))


def universe_tickers(con, day: dt.date) -> list[str]:
    """Tickers of the stored universe for ``day`` (error if the universe is missing)."""
    rows = con.execute(
        "SELECT ticker FROM market.universe WHERE trade_date = ? ORDER BY rank", [day]
    ).fetchall()
    if not rows:
        raise dg.Failure(
            description=f"market.universe has no rows for {day}: materialize market/universe for that "
            "partition first"
        )
    return [r[0] for r in rows]


class IngestConfig(dg.Config):
    """Run config of the vendor-ingest assets."""

    refresh: bool = False
    """Fetch again even when the session is already stored for this vendor and these symbols."""
    allow_partial: bool = False
    """When the vendor returns nothing for some tickers, store the others (the failed tickers are
    named in the log and metadata) instead of failing the run."""


def fetch_allowing_partial(
    context: dg.AssetExecutionContext, fetch: Callable[[], pd.DataFrame], allow_partial: bool,
    failed: list[str],
) -> pd.DataFrame:
    """Call ``fetch``; on :class:`MissingDataError` either re-raise (default) or, when the user
    allowed it, keep the rows that arrived and record the failed tickers in ``failed``."""
    try:
        return fetch()
    except MissingDataError as exc:
        if not allow_partial or exc.partial is None:
            raise
        context.log.warning(f"{exc} -- keeping the other tickers (allow_partial: true)")
        failed.extend(exc.failed_tickers)
        return exc.partial


def cached_days(
    wh: WarehouseResource, timeframe: str, vendor: str, days: Sequence[dt.date],
    symbols_by_day: dict[dt.date, list[str]] | None, refresh: bool,
) -> set[dt.date]:
    """Sessions already stored for ``vendor`` covering the day's symbols (empty when refreshing)."""
    if refresh:
        return set()
    with wh.connect() as con:
        return {
            d for d in days
            if cache.is_cached(con, timeframe, vendor, d, symbols_by_day[d] if symbols_by_day else None)
        }


#: sessions fetched before one connection writes them (each session still its own transaction):
#: at most this many, and fewer once they hold :data:`WRITE_CHUNK_ROWS` rows
WRITE_CHUNK_SESSIONS = 20
WRITE_CHUNK_ROWS = 250_000


def _default_validate(t: Table, source: str) -> Callable[[pd.DataFrame, dt.date], quality.Validation]:
    return lambda df, d: quality.validate_market_frame(t, df, source=source, trade_date=d)


def _write_sessions(wh: WarehouseResource, t: Table, fetched: list[tuple[dt.date, quality.Validation]],
                    source: str, merge: bool = False) -> None:
    """Write each fetched session and its quarantine rows in one transaction, on one connection
    that checkpoints once at the end (a lake table's partitions are Delta commits made before,
    see :func:`primeflow_lib.warehouse.connect_for`'s note on the file lock). A session with no
    valid rows keeps what was stored.

    ``merge``: replace only the fetched rows' keys (``upsert_rows``) instead of the whole
    session, all sessions of the chunk in one transaction, and leave a session's earlier
    quarantine rows unless this fetch has new ones (a history backfill adds tickers to sessions
    other runs wrote)."""
    if not fetched:
        return
    if merge:
        # rows of many sessions but few tickers each: one upsert per chunk (one transaction,
        # still all-or-nothing) instead of one per session, which costs a table scan each
        with wh.connect() as con, warehouse.deferred_checkpoint(con), warehouse.transaction(con):
            good = [v.good for _, v in fetched if len(v.good)]
            if good:
                warehouse.upsert_rows(con, t, pd.concat(good, ignore_index=True))
            for day, v in fetched:
                if len(v.quarantine):
                    warehouse.write_quarantine(con, t.schema, v.quarantine, source=f"{source}:{t.fqn}",
                                               trade_date=day)
        return
    lake_first = warehouse.in_lake(t)
    if lake_first:
        # a lake partition is its own Delta commit (never inside the DuckDB transaction): commit
        # them before opening the file, so the file's lock is held only for the quarantine rows
        for day, v in fetched:
            if len(v.good):
                warehouse.replace_partition(None, t, v.good, day)
    with wh.connect() as con, warehouse.deferred_checkpoint(con):
        for day, v in fetched:
            with warehouse.transaction(con):
                if len(v.good) and not lake_first:
                    warehouse.replace_partition(con, t, v.good, day)
                if not merge or len(v.quarantine):
                    warehouse.write_quarantine(con, t.schema, v.quarantine, source=f"{source}:{t.fqn}",
                                               trade_date=day)


def ingest_sessions(
    context: dg.AssetExecutionContext,
    wh: WarehouseResource,
    t: Table,
    days: Sequence[dt.date],
    fetch_day: Callable[[dt.date], pd.DataFrame],
    *,
    source: str,
    validate: Callable[[pd.DataFrame, dt.date], quality.Validation] | None = None,
    skip: set[dt.date] | None = None,
    allow_partial: bool = False,
    failed_tickers: list[str] | None = None,
    merge: bool = False,
    extra_metadata: dict[str, dg.MetadataValue] | None = None,
) -> dg.MaterializeResult:
    """Fetch, validate and write ``t`` for each session in ``days`` (each session its own
    transaction, so a failure on day k keeps days < k), then run the stored-partition checks.

    Sessions in ``skip`` (already stored: see :func:`cached_days`) are not fetched. A session
    whose fetched rows all fail validation is not rewritten (what was stored stays); the
    ``non_empty`` check then reports it if nothing was stored before. Sessions are fetched in
    chunks (:data:`WRITE_CHUNK_SESSIONS`, :data:`WRITE_CHUNK_ROWS`) with no connection open; a
    background thread writes each chunk on one short connection (a transaction per session, one
    checkpoint per chunk) while the next chunk is fetched. With ``allow_partial``, tickers the
    vendor had no data for are named in the log and metadata, the rest stored. With ``merge``
    each session's fetched rows replace only their keys (see :func:`_write_sessions`);
    ``extra_metadata`` is added to the result's metadata.
    """
    failed = failed_tickers if failed_tickers is not None else []
    total, bad_total, skipped = 0, 0, []
    bad_by_rule: dict[str, int] = {}
    last_good = pd.DataFrame()
    skip = skip or set()
    t0 = time.monotonic()
    todo = [d for d in days if d not in skip]
    if len(todo) < len(days):
        context.log.info(f"{t.fqn}: {len(days) - len(todo)} of {len(days)} sessions already stored from "
                         f"{source} (cached; run with refresh: true to fetch again)")
    done = 0
    pending = list(todo)
    with warehouse.background_writer() as submit:
        while pending:
            # fetch a chunk with no connection open (vendor calls can be slow), then write it
            fetched: list[tuple[dt.date, quality.Validation]] = []
            rows = 0
            while pending and len(fetched) < WRITE_CHUNK_SESSIONS and rows < WRITE_CHUNK_ROWS:
                day = pending.pop(0)
                raw = fetch_allowing_partial(context, lambda day=day: fetch_day(day), allow_partial, failed)
                fetched.append((day, (validate or _default_validate(t, source))(raw, day)))
                rows += len(fetched[-1][1].good)
            submit(functools.partial(_write_sessions, wh, t, fetched, source, merge))
            for day, v in fetched:
                done += 1
                total += len(v.good)
                bad_total += v.n_bad
                for k, n in v.counts.items():
                    bad_by_rule[k] = bad_by_rule.get(k, 0) + n
                if len(v.good):
                    last_good = v.good
                else:
                    skipped.append(day)
                if len(todo) <= 5 or done % 10 == 0 or done == len(todo) or not len(v.good):
                    context.log.info(
                        f"[{done}/{len(todo)}] {t.fqn} {day}: {len(v.good):,} rows stored, {v.n_bad:,} quarantined"
                        + ("" if len(v.good) else " (no valid rows: stored partition left as it was)")
                        + f" ({time.monotonic() - t0:.1f} s)"
                    )
    with wh.reading(t) as con:
        outcomes = quality.run_checks(con, t, days[0], days[-1])
    checks = [
        dg.AssetCheckResult(
            check_name=o.name,
            passed=o.passed,
            metadata={"failing": o.failing_rows, "sample": o.sample, "rule": o.description},
        )
        for o in outcomes
    ]
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(total),
            "quarantined": dg.MetadataValue.int(bad_total),
            "quarantined_by_rule": dg.MetadataValue.json(bad_by_rule),
            "sessions": dg.MetadataValue.int(len(days)),
            "sessions_cached": dg.MetadataValue.int(len(skip & set(days))),
            "sessions_without_valid_rows": dg.MetadataValue.text(", ".join(map(str, skipped)) or "none"),
            "vendor": dg.MetadataValue.text(source),
            "tickers_without_data": dg.MetadataValue.text(", ".join(sorted(set(failed))) or "none"),
            "table": dg.MetadataValue.text(t.fqn),
            "preview": preview_md(last_good),
            **(extra_metadata or {}),
        },
        check_results=checks,
    )
