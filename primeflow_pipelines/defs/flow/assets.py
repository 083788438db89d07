"""Flow intelligence assets on trading-day partitions.

``flow/flow_events``, ``flow/flow_context`` and ``flow/signals`` come from one call of
:func:`primeflow_lib.flow.engine.score_batch` per session (a multi-asset), written in one
transaction with the session's quarantine and heartbeat rows. ``live/paper_positions`` opens a
position per signal and carries open positions from session to session.

Inputs are read so that nothing after the session is visible: the previous sessions' chain
snapshot (open interest as of the open), daily bars before the session, 1-minute bars of the
session and the RVOL lookback, and earlier sessions' events for swing memory.
"""

import dagster as dg
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib import warehouse as db
from primeflow_lib.flow.engine import HISTORY_COLUMNS, score_batch
from primeflow_lib.flow.heartbeat import heartbeat_frame, heartbeat_row
from primeflow_lib.flow.inputs import bars_for_day, history_rows, load_scoring_inputs, read_bars
from primeflow_lib.flow.inputs import select_sql as _select
from primeflow_lib.paper import outcome_counts, paper_trade
from primeflow_lib.schema import flow as fs
from primeflow_lib.schema import live as ls
from primeflow_lib.schema import market as ms
from primeflow_pipelines.defs.flow.prints import PRINTS_KEY
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.market.assets import CHAIN_KEY, DAILY_KEY, INTRADAY_KEY
from primeflow_pipelines.defs.partitions import sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

EVENTS_KEY = dg.AssetKey(["flow", "flow_events"])
CONTEXT_KEY = dg.AssetKey(["flow", "flow_context"])
SIGNALS_KEY = dg.AssetKey(["flow", "signals"])
PAPER_KEY = dg.AssetKey(["live", "paper_positions"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(EVENTS_KEY, deps=[PRINTS_KEY, CHAIN_KEY], description=fs.FLOW_EVENTS.doc,
                     group_name="flow", kinds={"duckdb", "python"}),
        dg.AssetSpec(CONTEXT_KEY, deps=[INTRADAY_KEY, DAILY_KEY], description=fs.FLOW_CONTEXT.doc,
                     group_name="flow", kinds={"duckdb", "python"}),
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
    backfill_policy=dg.BackfillPolicy.single_run(),
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
    totals = {"events": 0, "signals": 0, "quarantined": 0}
    by_type: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    by_tag: dict[str, dict[str, int]] = {}
    q_reasons: dict[str, int] = {}
    strongest = []
    # a range run reads the 1-minute bars once and keeps recent events as swing memory
    rvol_start = (calendar.sessions_before(days[0], cfg["flow"]["rvol_lookback_sessions"]) or days)[0]
    with warehouse.connect() as con:
        names = [r[0] for r in con.execute(
            "SELECT DISTINCT underlying FROM flow.option_prints WHERE trade_date BETWEEN ? AND ?",
            [days[0], days[-1]]).fetchall()]
        all_bars = read_bars(con, sorted(set(names) | {cfg["market_regime"]["benchmark"]}), rvol_start, days[-1])
    keep = cfg["swing"]["repeat_lookback_days"]
    before = calendar.sessions_before(days[0], keep)
    with warehouse.connect() as con:
        seed = con.execute(
            "SELECT " + ", ".join(f'"{c}"' for c in HISTORY_COLUMNS) + " FROM flow.flow_events "
            "WHERE trade_date BETWEEN ? AND ?", [before[0] if before else days[0], before[-1] if before else days[0]]
        ).df() if before else pd.DataFrame(columns=list(HISTORY_COLUMNS))
    # one frame per session, oldest first: the swing memory for the next session
    memory: list[pd.DataFrame] = [g for _, g in seed.groupby("trade_date", sort=True)] if len(seed) else []
    for i, day in enumerate(days, 1):
        with warehouse.connect() as con:
            prints = con.execute(_select(fs.OPTION_PRINTS, "trade_date = ?") + " ORDER BY option_symbol, seq", [day]).df()
            if prints.empty:
                raise dg.Failure(description=f"flow.option_prints has no rows for {day}: materialize "
                                 "flow/option_prints for it first")
            history = (pd.concat(memory[-keep:], ignore_index=True) if memory
                       else pd.DataFrame(columns=list(HISTORY_COLUMNS)))
            inputs = load_scoring_inputs(con, day, sorted(prints["underlying"].unique()), cfg,
                                         bars_1m=bars_for_day(all_bars, day, cfg), history=history)
        res = score_batch(prints, inputs["bars_1m"], inputs["daily_bars"], inputs["chain"], cfg,
                          inputs["history"], source=f"daily:{day}")
        hb = heartbeat_row(res, source=f"daily:{day}",
                           now=calendar.session_open_close(day)[1])
        with warehouse.connect() as con, db.transaction(con):
            db.replace_partition(con, fs.FLOW_EVENTS, res.events, day)
            db.replace_partition(con, fs.FLOW_CONTEXT, res.context, day)
            db.replace_partition(con, fs.SIGNALS, res.signals, day)
            db.write_quarantine(con, "flow", res.quarantine, source=f"score:{day}", trade_date=day)
            db.upsert_rows(con, ls.HEARTBEAT, heartbeat_frame(hb))
        memory = [*memory, history_rows(res.events)][-keep:] if keep else []
        st = res.stats
        totals["events"] += len(res.events)
        totals["signals"] += len(res.signals)
        totals["quarantined"] += len(res.quarantine)
        for k, v in (st.get("events_by_type") or {}).items():
            by_type[k] = by_type.get(k, 0) + int(v)
        for k, v in (st.get("signals_by_kind") or {}).items():
            by_kind[k] = by_kind.get(k, 0) + int(v)
        for k, tags in (st.get("signals_by_kind_tag") or {}).items():
            for tag, v in tags.items():
                by_tag.setdefault(k, {})[tag] = by_tag.get(k, {}).get(tag, 0) + int(v)
        for k, v in (st.get("quarantined_by_reason") or {}).items():
            q_reasons[k] = q_reasons.get(k, 0) + int(v)
        if len(res.signals):
            strongest.append(res.signals.nlargest(5, "strength"))
        context.log.info(f"[{i}/{len(days)}] {day}: {len(prints):,} prints -> {len(res.events):,} orders, "
                         f"{len(res.signals)} signals {dict(st.get('signals_by_kind') or {})}, "
                         f"{len(res.quarantine)} quarantined")
    top = pd.concat(strongest).nlargest(10, "strength") if strongest else pd.DataFrame()
    preview_cols = ["ts", "kind", "ticker", "option_symbol", "direction", "strength", "tags", "premium", "event_type", "side"]
    top_md = preview_md(top[[c for c in preview_cols if c in top.columns]] if len(top) else top, 10)

    with warehouse.connect() as con:
        lo, hi = days[0], days[-1]
        orphan = con.execute(
            "SELECT count(*) FROM flow.signals s LEFT JOIN flow.flow_events e USING (event_id) "
            "WHERE s.trade_date BETWEEN ? AND ? AND (e.event_id IS NULL OR e.ticker <> s.ticker)",
            [lo, hi]).fetchall()[0][0]
        untraced = con.execute(
            "WITH ids AS (SELECT e.trade_date, unnest(string_split(e.print_ids, ',')) AS print_id "
            "FROM flow.flow_events e WHERE e.trade_date BETWEEN ? AND ?) "
            "SELECT count(*) FROM ids LEFT JOIN flow.option_prints p ON p.print_id = ids.print_id "
            "AND p.trade_date = ids.trade_date WHERE p.print_id IS NULL", [lo, hi]).fetchall()[0][0]
    yield dg.MaterializeResult(asset_key=EVENTS_KEY, metadata={
        "rows": dg.MetadataValue.int(totals["events"]),
        "events_by_type": dg.MetadataValue.json(by_type),
        "quarantined": dg.MetadataValue.int(totals["quarantined"]),
        "quarantined_by_reason": dg.MetadataValue.json(q_reasons),
    })
    yield dg.MaterializeResult(asset_key=CONTEXT_KEY, metadata={"rows": dg.MetadataValue.int(totals["events"])})
    yield dg.MaterializeResult(asset_key=SIGNALS_KEY, metadata={
        "rows": dg.MetadataValue.int(totals["signals"]),
        "signals_by_kind": dg.MetadataValue.json(by_kind),
        "tags_by_kind": dg.MetadataValue.json(by_tag),
        "strongest": top_md,
        **{f"signals_{k.lower()}": dg.MetadataValue.int(v) for k, v in by_kind.items()},
    })
    yield dg.AssetCheckResult(asset_key=SIGNALS_KEY, check_name="signals_reference_events", passed=orphan == 0,
                              metadata={"orphan_signals": orphan})
    yield dg.AssetCheckResult(asset_key=EVENTS_KEY, check_name="events_trace_to_prints", passed=untraced == 0,
                              metadata={"print_ids_not_found": untraced})


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
    cols = ", ".join(f'"{c}"' for c in ls.PAPER_POSITIONS.column_names)
    with warehouse.connect() as con:
        carried = con.execute(
            f"SELECT {cols} FROM live.paper_positions WHERE status <> 'CLOSED' AND trade_date < ?",
            [days[0]]).df()
    touched = []
    for i, day in enumerate(days, 1):
        with warehouse.connect() as con:
            signals = con.execute(_select(fs.SIGNALS, "trade_date = ?"), [day]).df()
            tickers = sorted(set(signals["ticker"]) | set(carried["ticker"]) if len(carried) else set(signals["ticker"]))
            bars = con.execute(_select(ms.OHLCV_INTRADAY, "trade_date = ? AND ticker IN (SELECT unnest(?))")
                               + " ORDER BY ticker, ts", [day, tickers]).df()
            daily = con.execute(_select(ms.OHLCV_DAILY, "trade_date = ? AND ticker IN (SELECT unnest(?))"),
                                [day, tickers]).df()
        asof = calendar.session_open_close(day)[1]
        pos = paper_trade(signals, bars, daily, cfg, asof, carried=carried if len(carried) else None)
        with warehouse.connect() as con:
            db.upsert_rows(con, ls.PAPER_POSITIONS, pos[ls.PAPER_POSITIONS.column_names])
        carried = pos[pos["status"].astype(str) != "CLOSED"]
        touched.append(pos)
        context.log.info(f"[{i}/{len(days)}] {day}: {len(signals)} new signals, {len(pos)} positions updated, "
                         f"{len(carried)} carried over")
    allp = pd.concat(touched, ignore_index=True) if touched else pd.DataFrame()
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
