"""Flow intelligence assets on trading-day partitions.

``flow/flow_events``, ``flow/flow_context`` and ``flow/signals`` come from one call of
:func:`primeflow_lib.flow.engine.score_batch` per session (a multi-asset), written in one
transaction with the session's quarantine and heartbeat rows. ``live/paper_positions`` opens a
position per signal and carries open positions from session to session.

Inputs are read so that nothing after the session is visible: the previous sessions' chain
snapshot (open interest as of the open) and its dealer gamma levels, daily bars before the session, 1-minute bars of the
session and the RVOL lookback, the session's level-2 book minutes when stored (an event uses only minutes closed
before it), and earlier sessions' events for swing memory.
"""

import datetime as dt
import functools

import dagster as dg
import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib import warehouse as db
from primeflow_lib.flow.engine import HISTORY_COLUMNS, FlowResult, score_batch, session_history
from primeflow_lib.flow.heartbeat import heartbeat_frame, heartbeat_row
from primeflow_lib.flow.inputs import (
    bars_for_day,
    history_rows,
    read_bars,
    read_chain_before,
    read_daily_before,
    read_gamma_levels,
    read_l2_features,
)
from primeflow_lib.flow.inputs import select_sql as _select
from primeflow_lib.flow.paper import outcome_counts, paper_trade
from primeflow_lib.schema import flow as fs
from primeflow_lib.schema import live as ls
from primeflow_lib.schema import market as ms
from primeflow_pipelines.defs.flow.prints import PRINTS_KEY
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.market.assets import CHAIN_KEY, DAILY_KEY, INTRADAY_KEY
from primeflow_pipelines.defs.market.gamma import GAMMA_KEY
from primeflow_pipelines.defs.market.l2 import L2_KEY
from primeflow_pipelines.defs.partitions import (
    BACKFILL_ENV,
    backfill_policy,
    backfill_sessions_per_run,
    sessions_of,
    trading_days,
)
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

EVENTS_KEY = dg.AssetKey(["flow", "flow_events"])
CONTEXT_KEY = dg.AssetKey(["flow", "flow_context"])
SIGNALS_KEY = dg.AssetKey(["flow", "signals"])
PAPER_KEY = dg.AssetKey(["live", "paper_positions"])

#: sessions before a partition whose stored inputs scoring reads (declared so that a backfill
#: split into several runs orders each run after the runs that store those inputs): prints for
#: the swing memory (``swing.repeat_lookback_days``), 1-minute bars for RVOL
#: (``flow.rvol_lookback_sessions``), the previous session's chain and dealer gamma
MEMORY_SESSIONS, RVOL_SESSIONS = 10, 30


def _before(key: dg.AssetKey, sessions: int) -> dg.AssetDep | dg.AssetKey:
    """Only for split backfills: with one run per range (the default) the run itself orders
    the sessions, and an offset mapping would make a UI backfill of some sessions also target
    the sessions after them."""
    if backfill_sessions_per_run() is None:
        return key
    return dg.AssetDep(key, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-sessions, end_offset=0, allow_nonexistent_upstream_partitions=True))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(EVENTS_KEY, deps=[_before(PRINTS_KEY, MEMORY_SESSIONS), _before(CHAIN_KEY, 1)],
                     description=fs.FLOW_EVENTS.doc, group_name="flow", kinds={"duckdb", "python"}),
        dg.AssetSpec(CONTEXT_KEY, deps=[_before(INTRADAY_KEY, RVOL_SESSIONS), DAILY_KEY, _before(GAMMA_KEY, 1), L2_KEY],
                     description=fs.FLOW_CONTEXT.doc, group_name="flow", kinds={"duckdb", "python"}),
        dg.AssetSpec(SIGNALS_KEY, deps=[EVENTS_KEY, CONTEXT_KEY], description=fs.SIGNALS.doc,
                     group_name="flow", kinds={"duckdb", "python"}),
    ],
    check_specs=[
        dg.AssetCheckSpec("signals_reference_events", asset=SIGNALS_KEY, blocking=True,
                          description="every signal's event is stored, with the same ticker"),
        dg.AssetCheckSpec("events_trace_to_prints", asset=EVENTS_KEY, blocking=True,
                          description="every print id behind an event is a stored print of the day"),
    ],
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    can_subset=False,
)
def flow_scoring(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
):
    """Classify each session's prints into orders, attach causal context and score the three
    strategies (one library call per session, the same one the near-live job uses)."""
    cfg = primeflow_config.load()
    days = sessions_of(context)
    tally = _ScoringTally()
    # a range run reads the 1-minute bars once and keeps recent events as swing memory
    all_bars = _range_bars(warehouse, days, cfg)
    keep = cfg["swing"]["repeat_lookback_days"]
    memory = _swing_memory_seed(warehouse, days[0], keep, cfg)
    done = 0
    # each chunk: read its inputs, score with no connection open, then hand the results to the
    # background writer (one connection, a transaction per session) while the next chunk scores
    with db.background_writer() as submit:
        for chunk in _chunks(days, SCORE_CHUNK_SESSIONS):
            inputs = _read_session_inputs(warehouse, chunk, cfg)
            scored: list[tuple[dt.date, FlowResult]] = []
            try:
                for day, prints, daily, chain, gamma, l2 in inputs:
                    history = (pd.concat(memory[-keep:], ignore_index=True) if memory
                               else pd.DataFrame(columns=list(HISTORY_COLUMNS)))
                    res = score_batch(prints, bars_for_day(all_bars, day, cfg), daily, chain, cfg, history,
                                      source=f"daily:{day}", gamma=gamma, l2=l2)
                    scored.append((day, res))
                    memory = [*memory, history_rows(res.events)][-keep:] if keep else []
                    tally.add(res)
                    done += 1
                    context.log.info(
                        f"[{done}/{len(days)}] {day}: {len(prints):,} prints -> {len(res.events):,} orders, "
                        f"{len(res.signals)} signals {dict(res.stats.get('signals_by_kind') or {})}, "
                        f"{len(res.quarantine)} quarantined")
            finally:  # sessions scored before a failure are still written
                submit(functools.partial(_write_scored, warehouse, scored))
            if len(inputs) < len(chunk):
                raise dg.Failure(description=f"flow.option_prints has no rows for {chunk[len(inputs)]}: "
                                 "materialize flow/option_prints for it first")
    with warehouse.reading(fs.SIGNALS, fs.FLOW_EVENTS, fs.OPTION_PRINTS) as con:
        orphan, untraced = _check_counts(con, days[0], days[-1])
    yield from tally.results()
    yield dg.AssetCheckResult(asset_key=SIGNALS_KEY, check_name="signals_reference_events", passed=orphan == 0,
                              metadata={"orphan_signals": orphan})
    yield dg.AssetCheckResult(asset_key=EVENTS_KEY, check_name="events_trace_to_prints", passed=untraced == 0,
                              metadata={"print_ids_not_found": untraced})


#: sessions whose inputs one connection reads and whose results one connection writes (each
#: session still in its own transaction; DuckDB then checkpoints once per chunk, not per session)
SCORE_CHUNK_SESSIONS = 5


def _chunks(days: list[dt.date], n: int) -> list[list[dt.date]]:
    """``days`` in consecutive runs of at most ``n``, the last session on its own (so little is
    left to write once the last session is scored)."""
    head = days[:-1]
    return [head[i:i + n] for i in range(0, len(head), n)] + [days[-1:]]


def _range_bars(warehouse: WarehouseResource, days: list[dt.date], cfg: dict) -> pd.DataFrame:
    """1-minute bars of every underlying printed in ``days`` (plus the benchmark) from the RVOL
    lookback before the first session to the last (sliced per session with ``bars_for_day``)."""
    rvol_start = (calendar.sessions_before(days[0], cfg["flow"]["rvol_lookback_sessions"]) or days)[0]
    with warehouse.reading(fs.OPTION_PRINTS, ms.OHLCV_INTRADAY) as con:
        names = [r[0] for r in con.execute(
            "SELECT DISTINCT underlying FROM flow.option_prints WHERE trade_date BETWEEN ? AND ?",
            [days[0], days[-1]]).fetchall()]
        return read_bars(con, sorted(set(names) | {cfg["market_regime"]["benchmark"]}), rvol_start, days[-1])


def _swing_memory_seed(warehouse: WarehouseResource, first: dt.date, keep: int, cfg: dict) -> list[pd.DataFrame]:
    """The swing memory of the ``keep`` sessions before ``first``, one frame per session, oldest
    first: their stored events; or, when backfills run as several runs side by side
    (``PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN``), rebuilt from their stored prints
    (:func:`session_history`), since another run may be scoring those sessions right now."""
    before = calendar.sessions_before(first, keep)
    if not before:
        return []
    if backfill_sessions_per_run() is not None:
        for name, need, have in (("swing.repeat_lookback_days", keep, MEMORY_SESSIONS),
                                 ("flow.rvol_lookback_sessions", cfg["flow"]["rvol_lookback_sessions"], RVOL_SESSIONS)):
            if need > have:
                raise dg.Failure(description=f"{name}: {need} sessions is more than the {have} sessions a split backfill "
                                 f"({BACKFILL_ENV}) orders runs by; lower it or unset {BACKFILL_ENV}")
        bars = _range_bars(warehouse, before, cfg)
        with warehouse.reading(fs.OPTION_PRINTS) as con:
            prints = [con.execute(_select(fs.OPTION_PRINTS, "trade_date = ?") + " ORDER BY option_symbol, seq",
                                  [d]).df() for d in before]
        return [session_history(p, bars_for_day(bars, d, cfg), cfg, source=f"daily:{d}")
                for d, p in zip(before, prints, strict=True) if len(p)]
    with warehouse.connect() as con:
        seed = con.execute(
            "SELECT " + ", ".join(f'"{c}"' for c in HISTORY_COLUMNS) + " FROM flow.flow_events "
            "WHERE trade_date BETWEEN ? AND ?", [before[0], before[-1]]).df()
    return [g for _, g in seed.groupby("trade_date", sort=True)] if len(seed) else []


def _read_session_inputs(
    warehouse: WarehouseResource, days: list[dt.date], cfg: dict
) -> list[tuple[dt.date, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """``(day, prints, daily_bars, chain, gamma levels, L2 minutes)`` per session, stopping before the first session with
    no stored prints (the caller fails there after writing the sessions before it). Prints and
    chains are read first (with the lake: without opening the warehouse file), then the small
    DuckDB tables on one short connection."""
    facts = []
    with warehouse.reading(fs.OPTION_PRINTS, ms.OPTION_CHAIN) as con:
        for day in days:
            prints = con.execute(_select(fs.OPTION_PRINTS, "trade_date = ?") + " ORDER BY option_symbol, seq",
                                 [day]).df()
            if prints.empty:
                break
            names = sorted(prints["underlying"].unique())
            facts.append((day, prints, names, read_chain_before(con, day, names, cfg)))
    if not facts:
        return []
    with warehouse.connect() as con:
        return [(day, prints, read_daily_before(con, day, names, cfg), chain, read_gamma_levels(con, day, names),
                 read_l2_features(con, day, names)) for day, prints, names, chain in facts]


def _write_scored(warehouse: WarehouseResource, scored: list[tuple[dt.date, FlowResult]]) -> None:
    """Write each scored session in its own transaction (events, context, signals, quarantine
    and heartbeat together), on one connection that checkpoints once at the end. With the three
    fact tables in the lake, their partitions are Delta commits made first (each atomic on its
    own), then the quarantine and heartbeat rows commit in one transaction per session."""
    if not scored:
        return
    facts = (fs.FLOW_EVENTS, fs.FLOW_CONTEXT, fs.SIGNALS)
    lake_first = all(db.in_lake(t) for t in facts)
    if lake_first:
        # each lake partition is its own Delta commit (never part of the DuckDB transaction):
        # commit them before opening the file, which is then held only for the small tables
        for day, res in scored:
            for t, frame in zip(facts, (res.events, res.context, res.signals), strict=True):
                db.replace_partition(None, t, frame, day)
    with warehouse.connect() as con, db.deferred_checkpoint(con):
        for day, res in scored:
            hb = heartbeat_row(res, source=f"daily:{day}", now=calendar.session_open_close(day)[1])
            with db.transaction(con):
                if not lake_first:
                    for t, frame in zip(facts, (res.events, res.context, res.signals), strict=True):
                        db.replace_partition(con, t, frame, day)
                db.write_quarantine(con, "flow", res.quarantine, source=f"score:{day}", trade_date=day)
                db.upsert_rows(con, ls.HEARTBEAT, heartbeat_frame(hb))


def _check_counts(con, lo: dt.date, hi: dt.date) -> tuple[int, int]:
    """(signals without their stored event or with another ticker, print ids of stored events
    not found among the day's stored prints) over sessions ``lo``..``hi``."""
    orphan = con.execute(
        "SELECT count(*) FROM flow.signals s LEFT JOIN flow.flow_events e USING (event_id) "
        "WHERE s.trade_date BETWEEN ? AND ? AND (e.event_id IS NULL OR e.ticker <> s.ticker)",
        [lo, hi]).fetchall()[0][0]
    untraced = con.execute(
        "WITH ids AS (SELECT e.trade_date, unnest(string_split(e.print_ids, ',')) AS print_id "
        "FROM flow.flow_events e WHERE e.trade_date BETWEEN ? AND ?) "
        "SELECT count(*) FROM ids LEFT JOIN flow.option_prints p ON p.print_id = ids.print_id "
        "AND p.trade_date = ids.trade_date WHERE p.print_id IS NULL", [lo, hi]).fetchall()[0][0]
    return int(orphan), int(untraced)


class _ScoringTally:
    """Counts over the sessions of a run, for the three assets' metadata."""

    def __init__(self) -> None:
        self.events = self.signals = self.quarantined = 0
        self.by_type: dict[str, int] = {}
        self.by_kind: dict[str, int] = {}
        self.by_tag: dict[str, dict[str, int]] = {}
        self.q_reasons: dict[str, int] = {}
        self.strongest: list[pd.DataFrame] = []

    def add(self, res: FlowResult) -> None:
        """Count one scored session."""
        st = res.stats
        self.events += len(res.events)
        self.signals += len(res.signals)
        self.quarantined += len(res.quarantine)
        _add_counts(self.by_type, st.get("events_by_type"))
        _add_counts(self.by_kind, st.get("signals_by_kind"))
        for k, tags in (st.get("signals_by_kind_tag") or {}).items():
            _add_counts(self.by_tag.setdefault(k, {}), tags)
        _add_counts(self.q_reasons, st.get("quarantined_by_reason"))
        if len(res.signals):
            self.strongest.append(res.signals.nlargest(5, "strength"))

    def results(self):
        """The three ``MaterializeResult``s."""
        top = pd.concat(self.strongest).nlargest(10, "strength") if self.strongest else pd.DataFrame()
        preview_cols = ["ts", "kind", "ticker", "option_symbol", "direction", "strength", "tags", "premium",
                        "event_type", "side"]
        top_md = preview_md(top[[c for c in preview_cols if c in top.columns]] if len(top) else top, 10)
        yield dg.MaterializeResult(asset_key=EVENTS_KEY, metadata={
            "rows": dg.MetadataValue.int(self.events),
            "events_by_type": dg.MetadataValue.json(self.by_type),
            "quarantined": dg.MetadataValue.int(self.quarantined),
            "quarantined_by_reason": dg.MetadataValue.json(self.q_reasons),
        })
        yield dg.MaterializeResult(asset_key=CONTEXT_KEY, metadata={"rows": dg.MetadataValue.int(self.events)})
        yield dg.MaterializeResult(asset_key=SIGNALS_KEY, metadata={
            "rows": dg.MetadataValue.int(self.signals),
            "signals_by_kind": dg.MetadataValue.json(self.by_kind),
            "tags_by_kind": dg.MetadataValue.json(self.by_tag),
            "strongest": top_md,
            **{f"signals_{k.lower()}": dg.MetadataValue.int(v) for k, v in self.by_kind.items()},
        })


def _add_counts(into: dict[str, int], counts: dict | None) -> None:
    for k, v in (counts or {}).items():
        into[k] = into.get(k, 0) + int(v)


@dg.asset(
    key=PAPER_KEY,
    deps=[SIGNALS_KEY, INTRADAY_KEY],
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITE_POOL,
    group_name="live",
    kinds={"duckdb", "python"},
)
def paper_positions(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """A paper position per signal (TP / SL / timeout from config ``paper``), followed on the
    session's 1-minute bars; positions still open at the close carry over to the next session.
    Rows are upserted by ``position_id``, so re-running a session is idempotent."""
    cfg = primeflow_config.load()
    days = sessions_of(context)
    with warehouse.connect() as con:  # the whole range in one read; sessions are sliced below
        carried, signals_all, bars_all, daily_all = _read_paper_inputs(con, days)
    touched: list[tuple[dt.date, pd.DataFrame]] = []
    try:
        for i, day in enumerate(days, 1):
            signals = _session_rows(signals_all, day)
            tickers = sorted(set(signals["ticker"]) | set(carried["ticker"]) if len(carried) else set(signals["ticker"]))
            bars = _session_rows(bars_all, day, tickers)
            daily = _session_rows(daily_all, day, tickers)
            asof = calendar.session_open_close(day)[1]
            pos = paper_trade(signals, bars, daily, cfg, asof, carried=carried if len(carried) else None)
            carried = pos[pos["status"].astype(str) != "CLOSED"]
            touched.append((day, pos))
            context.log.info(f"[{i}/{len(days)}] {day}: {len(signals)} new signals, {len(pos)} positions updated, "
                             f"{len(carried)} carried over")
    finally:  # sessions done before a failure are still written
        _write_positions(warehouse, [pos for _, pos in touched])
    allp = pd.concat([pos for _, pos in touched], ignore_index=True) if touched else pd.DataFrame()
    counts = outcome_counts(allp) if len(allp) else {}
    closed = allp[allp["status"].astype(str) == "CLOSED"] if len(allp) else allp
    win = float((closed["return_pct"] > 0).mean()) if len(closed) else float("nan")
    return dg.MaterializeResult(metadata={
        "positions_updated": dg.MetadataValue.int(len(allp)),
        "outcomes_by_kind": dg.MetadataValue.json(counts),
        "open_at_end": dg.MetadataValue.int(len(carried)),
        "win_rate_closed": dg.MetadataValue.float(win),
        "preview": preview_md(closed.sort_values("exit_ts").tail(8)[[
            "kind", "ticker", "direction", "entry_price", "exit_price", "exit_reason", "return_pct",
            "option_pnl"]] if len(closed) else closed),
    })


def _read_paper_inputs(con, days: list[dt.date]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(carried, signals, bars_1m, daily)`` for paper trading ``days``: positions still open
    before the first session, then the range's signals and the 1-minute and daily bars of every
    ticker they or the carried positions name, sorted by session."""
    cols = ", ".join(f'"{c}"' for c in ls.PAPER_POSITIONS.column_names)
    lo, hi = days[0], days[-1]
    carried = con.execute(
        f"SELECT {cols} FROM live.paper_positions WHERE status <> 'CLOSED' AND trade_date < ?", [lo]).df()
    signals = con.execute(_select(fs.SIGNALS, "trade_date BETWEEN ? AND ?"), [lo, hi]).df()
    tickers = sorted(set(signals["ticker"]) | set(carried["ticker"]))
    where = "trade_date BETWEEN ? AND ? AND ticker IN (SELECT unnest(?))"
    bars = con.execute(_select(ms.OHLCV_INTRADAY, where) + " ORDER BY trade_date, ticker, ts", [lo, hi, tickers]).df()
    daily = con.execute(_select(ms.OHLCV_DAILY, where) + " ORDER BY trade_date", [lo, hi, tickers]).df()
    return carried, signals, bars, daily


def _session_rows(df: pd.DataFrame, day: dt.date, tickers: list[str] | None = None) -> pd.DataFrame:
    """The rows of ``df`` for session ``day`` (and ``tickers``), in stored order, re-indexed."""
    keep = pd.to_datetime(df["trade_date"]).to_numpy("datetime64[D]") == np.datetime64(day, "D")
    if tickers is not None:
        keep &= df["ticker"].isin(tickers).to_numpy()
    return df[keep].reset_index(drop=True)


def _write_positions(warehouse: WarehouseResource, sessions: list[pd.DataFrame]) -> None:
    """Upsert each session's touched positions, in session order (a transaction each), on one
    connection."""
    if not sessions:
        return
    with warehouse.connect() as con, db.deferred_checkpoint(con):
        for pos in sessions:
            db.upsert_rows(con, ls.PAPER_POSITIONS, pos[ls.PAPER_POSITIONS.column_names])
