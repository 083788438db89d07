"""The trader's desk for the workbench and the CLI: the order tape and its presets, the
net-premium tide, volatility, open interest and max pain, exposure beyond gamma, earnings and
the alert rules.

Reads run on the published read copy (:mod:`primeflow_lib.workbench.readcopy`: one read-only
connection per query); every function that reads a mart says so and returns None (or an empty
frame) when the table is not in this read copy yet, so a page can show its empty state. Writes
(presets, rules) use one short connection to the live warehouse, in one transaction, and
republish the read copy on it, as recording a backtest does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path as Path_
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.alerts import rules as rl
from primeflow_lib.alerts.outbox import load_rules
from primeflow_lib.flow import tape as tp
from primeflow_lib.flow import tide as td
from primeflow_lib.flow.enrich import DeskSettings
from primeflow_lib.flow.volatility import history_warning
from primeflow_lib.schema.desk import (
    ALERT_RULES,
    EARNINGS,
    GREEK_EXPOSURE,
    IV_STATS,
    IV_TERM,
    LIVE_RULE_ALERTS,
    OI_CHANGE,
    RULE_ALERTS,
    TAPE_PRESETS,
)
from primeflow_lib.workbench.readcopy import existing_tables, read_frame, require

Path = str | os.PathLike | None

MAX_PAIN = "marts.max_pain"
EXPOSURE_MART = "marts.exposure_by_strike"


def _fetch(path: Path):
    return lambda sql, params: read_frame(sql, params, path)


def _has(table: str, path: Path) -> bool:
    return table in existing_tables(path)


# ------------------------------------------------------------------------------- tape


_HELD: dict[str, tuple[int, duckdb.DuckDBPyConnection]] = {}
_HELD_LOCK = threading.Lock()


def _held_database(p: os.PathLike) -> duckdb.DuckDBPyConnection:
    """A read-only database held open per read-copy version (path and modification time), so
    the tape's queries share a warm buffer pool instead of reading the file afresh each time.
    A republish replaces the file (a new version): the old database is closed and the new one
    opened; a reader of the old file is never blocked."""
    key, version = str(p), Path_(p).stat().st_mtime_ns
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is not None and held[0] == version:
            return held[1]
        if held is not None:
            held[1].close()
        # attached to an in-memory database rather than opened by path: DuckDB shares one
        # instance per path within a process, so a plain open would keep serving the old file
        # to every other reader of the same path after a republish
        con = duckdb.connect(":memory:")
        con.execute("ATTACH ? AS rc (READ_ONLY)", [key])
        _HELD[key] = (version, con)
        return con


@contextlib.contextmanager
def _one_connection(path: Path) -> Iterator[Any]:
    """``fetch(sql, params)`` on one cursor of the held read copy (:func:`_held_database`) for
    the few queries of one tape page or order."""
    p = require(path)
    try:
        cur = _held_database(p).cursor()
        cur.execute("USE rc")
    except duckdb.Error as exc:
        raise warehouse.WarehouseError(f"cannot open the read copy {p}: {exc}") from None

    def fetch(sql: str, params: list[Any]) -> pd.DataFrame:
        try:
            return cur.execute(sql, params).df()
        except duckdb.Error as exc:
            raise warehouse.WarehouseError(f"query failed on {p}: {exc}") from None

    try:
        yield fetch
    finally:
        cur.close()


def tape(query: tp.TapeQuery | Mapping[str, Any], cfg: Mapping[str, Any], path: Path = None) -> tp.TapeResult:
    """One tape page (:func:`primeflow_lib.flow.tape.run_tape`) on the read copy."""
    q = query if isinstance(query, tp.TapeQuery) else tp.TapeQuery.from_dict(query)
    with _one_connection(path) as fetch:
        return tp.run_tape(q, DeskSettings.from_config(cfg), fetch)


def tape_sessions(source: str = "daily", path: Path = None) -> list[dt.date]:
    """Sessions with orders in the source's table, newest first."""
    t = tp.EVENT_TABLES[source]
    if not _has(t, path):
        return []
    df = read_frame(f"SELECT DISTINCT trade_date FROM {t} ORDER BY 1 DESC", path=path)
    return [pd.Timestamp(d).date() for d in df["trade_date"]]


def tape_tickers(day: dt.date, source: str = "daily", path: Path = None) -> list[str]:
    """Tickers with orders on ``day``."""
    t = tp.EVENT_TABLES[source]
    if not _has(t, path):
        return []
    return sorted(read_frame(f"SELECT DISTINCT ticker FROM {t} WHERE trade_date = ?", [day], path)["ticker"])


def order(event_id: str, cfg: Mapping[str, Any], source: str = "daily", path: Path = None) -> dict[str, Any]:
    """An order opened to its prints, context, signals, alerts and rule hits."""
    with _one_connection(path) as fetch:
        return tp.order_detail(event_id, DeskSettings.from_config(cfg), fetch, source)


def presets(path: Path = None) -> pd.DataFrame:
    """Saved tape presets (empty before the first one)."""
    return tp.list_presets(_fetch(path))


def preset(name: str, path: Path = None) -> tp.TapeQuery:
    """The saved preset ``name``, validated."""
    return tp.load_preset(_fetch(path), name)


def save_preset(name: str, query: tp.TapeQuery | Mapping[str, Any], description: str | None = None, *,
                live: Path = None, read_copy: Path = None, publish: bool = True) -> tp.TapeQuery:
    """Validate and store a preset in the live warehouse, then republish the read copy. A
    rejected preset writes nothing."""
    q = query if isinstance(query, tp.TapeQuery) else tp.TapeQuery.from_dict(query, ctx=f"preset {name!r}")
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con, [TAPE_PRESETS])
        with warehouse.transaction(con):
            tp.save_preset(con, name, q, description)
        if publish:
            warehouse.publish_read_copy(con=con, dst=read_copy)
    return q


def delete_preset(name: str, *, live: Path = None, read_copy: Path = None, publish: bool = True) -> bool:
    """Delete a preset; False when there was none."""
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con, [TAPE_PRESETS])
        gone = tp.delete_preset(con, name)
        if publish and gone:
            warehouse.publish_read_copy(con=con, dst=read_copy)
    return gone


# ------------------------------------------------------------------------------- tide


def tide_sessions(path: Path = None) -> list[dt.date] | None:
    """Sessions in ``marts.tide_minute`` (None before the marts are built)."""
    if not _has(td.TIDE_MART, path):
        return None
    return [pd.Timestamp(d).date() for d in read_frame(td.sessions_query(), path=path)["trade_date"]]


def tide(scope: str, name: str, day: dt.date, cfg: Mapping[str, Any], path: Path = None) -> pd.DataFrame | None:
    """One tide series (:func:`primeflow_lib.flow.tide.tide_query`)."""
    if not _has(td.TIDE_MART, path):
        return None
    sql, params = td.tide_query(scope, name, day, cfg)
    return read_frame(sql, params, path)


def tide_leaders(day: dt.date, n: int = 10, path: Path = None) -> pd.DataFrame | None:
    """Most bullish and bearish tickers by net premium at the close of ``day``."""
    if not _has(td.TIDE_MART, path):
        return None
    sql, params = td.leaders_query(day, n)
    return read_frame(sql, params, path)


# ------------------------------------------------------------------------------- volatility


def vol_snapshot(day: dt.date | None = None, path: Path = None) -> pd.DataFrame | None:
    """``marts.iv_stats`` of one snapshot (default the latest), highest IV rank first."""
    if not _has(IV_STATS.fqn, path):
        return None
    if day is None:
        d = read_frame(f"SELECT max(trade_date) AS d FROM {IV_STATS.fqn}", path=path)["d"].iloc[0]
        if pd.isna(d):
            return read_frame(f"SELECT * FROM {IV_STATS.fqn} WHERE false", path=path)
        day = pd.Timestamp(d).date()
    return read_frame(f"SELECT * FROM {IV_STATS.fqn} WHERE trade_date = ? ORDER BY iv_rank DESC NULLS LAST, "
                      "underlying", [day], path)


def vol_history(underlying: str, path: Path = None) -> pd.DataFrame | None:
    """``marts.iv_stats`` rows of one underlying, by date."""
    if not _has(IV_STATS.fqn, path):
        return None
    return read_frame(f"SELECT * FROM {IV_STATS.fqn} WHERE underlying = ? ORDER BY trade_date", [underlying], path)


def vol_warning(stats: pd.DataFrame) -> str | None:
    """The short-history warning of :func:`primeflow_lib.flow.volatility.history_warning`."""
    return history_warning(stats)


def term_structure(underlying: str, day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """``market.iv_term`` of one snapshot: ATM IV and 25-delta skew per expiry."""
    if not _has(IV_TERM.fqn, path):
        return None
    return read_frame(f"SELECT * FROM {IV_TERM.fqn} WHERE underlying = ? AND trade_date = ? ORDER BY expiry",
                      [underlying, day], path)


# ------------------------------------------------------------------------------- open interest


def oi_sessions(path: Path = None) -> list[dt.date] | None:
    """Snapshot dates in ``marts.oi_change``, newest first (None before the marts are built)."""
    if not _has(OI_CHANGE.fqn, path):
        return None
    df = read_frame(f"SELECT DISTINCT trade_date FROM {OI_CHANGE.fqn} ORDER BY 1 DESC", path=path)
    return [pd.Timestamp(d).date() for d in df["trade_date"]]


def oi_by_strike(underlying: str, day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """Calls' and puts' OI change per strike (every expiry) of the snapshot dated ``day`` (the
    change over the previous session), by strike, with the statuses that are not ok."""
    if not _has(OI_CHANGE.fqn, path):
        return None
    return read_frame(f"""
        SELECT strike, sum(oi_change) FILTER (WHERE "right" = 'C') AS call_oi_change,
               sum(oi_change) FILTER (WHERE "right" = 'P') AS put_oi_change, sum(oi_change) AS oi_change,
               sum(open_interest) AS open_interest, any_value(prev_date) AS prev_date,
               string_agg(DISTINCT status, ',') FILTER (WHERE status <> 'ok') AS not_ok
        FROM {OI_CHANGE.fqn} WHERE underlying = ? AND trade_date = ? GROUP BY strike ORDER BY strike""",
                      [underlying, day], path)


def oi_movers(day: dt.date, n: int = 25, path: Path = None) -> pd.DataFrame | None:
    """The ``n`` contracts with the largest |OI change| in the snapshot dated ``day``."""
    if not _has(OI_CHANGE.fqn, path):
        return None
    return read_frame(f"SELECT * FROM {OI_CHANGE.fqn} WHERE trade_date = ? AND oi_change IS NOT NULL "
                      "ORDER BY abs(oi_change) DESC, option_symbol LIMIT ?", [day, int(n)], path)


def oi_missing(day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """Underlyings whose previous-session snapshot is missing for ``day`` (the OI change is
    unknown there), with that session."""
    if not _has(OI_CHANGE.fqn, path):
        return None
    return read_frame(f"SELECT underlying, any_value(prev_date) AS missing_snapshot, count(*) AS contracts FROM "
                      f"{OI_CHANGE.fqn} WHERE trade_date = ? AND status = 'missing_prev_snapshot' GROUP BY 1 "
                      "ORDER BY 1", [day], path)


def max_pain(underlying: str, day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """``marts.max_pain`` of one snapshot, by expiry."""
    if not _has(MAX_PAIN, path):
        return None
    return read_frame(f"SELECT * FROM {MAX_PAIN} WHERE underlying = ? AND trade_date = ? ORDER BY expiry",
                      [underlying, day], path)


def chain_underlyings(day: dt.date, path: Path = None) -> list[str]:
    """Underlyings with a chain snapshot dated ``day``."""
    if not _has("market.option_chain", path):
        return []
    return sorted(read_frame("SELECT DISTINCT underlying FROM market.option_chain WHERE trade_date = ?",
                             [day], path)["underlying"])


# ------------------------------------------------------------------------------- exposure


def exposure_sessions(path: Path = None) -> list[dt.date] | None:
    """Snapshot dates in ``market.greek_exposure``, newest first."""
    if not _has(GREEK_EXPOSURE.fqn, path):
        return None
    df = read_frame(f"SELECT DISTINCT trade_date FROM {GREEK_EXPOSURE.fqn} ORDER BY 1 DESC", path=path)
    return [pd.Timestamp(d).date() for d in df["trade_date"]]


def exposure_by_strike(underlying: str, day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """``marts.exposure_by_strike`` of one snapshot (GEX, DEX, vanna, charm with the 0DTE part
    apart), by strike; None before the marts are built."""
    if not _has(EXPOSURE_MART, path):
        return None
    return read_frame(f"SELECT * FROM {EXPOSURE_MART} WHERE underlying = ? AND trade_date = ? ORDER BY strike",
                      [underlying, day], path)


def exposure_by_expiry(underlying: str, day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """Exposure per expiry of one snapshot from ``market.greek_exposure``."""
    if not _has(GREEK_EXPOSURE.fqn, path):
        return None
    return read_frame(f"SELECT expiry, any_value(zero_dte) AS zero_dte, any_value(convention) AS convention, "
                      "sum(gex) AS gex, sum(dex) AS dex, sum(vanna) AS vanna, sum(charm) AS charm, "
                      "sum(call_oi) AS call_oi, sum(put_oi) AS put_oi FROM "
                      f"{GREEK_EXPOSURE.fqn} WHERE underlying = ? AND trade_date = ? GROUP BY expiry ORDER BY expiry",
                      [underlying, day], path)


def exposure_totals(day: dt.date, path: Path = None) -> pd.DataFrame | None:
    """Every underlying's totals of one snapshot, largest |GEX| first, 0DTE apart."""
    if not _has(GREEK_EXPOSURE.fqn, path):
        return None
    return read_frame(f"SELECT underlying, any_value(convention) AS convention, any_value(spot) AS spot, "
                      "sum(gex) AS gex, sum(dex) AS dex, sum(vanna) AS vanna, sum(charm) AS charm, "
                      "coalesce(sum(gex) FILTER (WHERE zero_dte), 0) AS gex_0dte, "
                      "coalesce(sum(dex) FILTER (WHERE zero_dte), 0) AS dex_0dte FROM "
                      f"{GREEK_EXPOSURE.fqn} WHERE trade_date = ? GROUP BY 1 ORDER BY abs(sum(gex)) DESC",
                      [day], path)


# ------------------------------------------------------------------------------- earnings


def earnings(tickers: Sequence[str] = (), path: Path = None) -> pd.DataFrame | None:
    """Stored earnings dates (all vendors), optionally of some tickers; None without the table."""
    if not _has(EARNINGS.fqn, path):
        return None
    if tickers:
        return read_frame(f"SELECT * FROM {EARNINGS.fqn} WHERE ticker IN (SELECT unnest(?::VARCHAR[])) "
                          "ORDER BY ticker, report_date", [[t.upper() for t in tickers]], path)
    return read_frame(f"SELECT * FROM {EARNINGS.fqn} ORDER BY report_date, ticker", path=path)


# ------------------------------------------------------------------------------- rules


def rules(cfg: Mapping[str, Any], path: Path = None) -> list[rl.Rule]:
    """Every rule (built-in, config, saved), validated together, from the read copy."""
    p = require(path)
    with warehouse.connect(p, read_only=True) as con:
        return load_rules(con, cfg)


def rules_frame(rule_list: Sequence[rl.Rule]) -> pd.DataFrame:
    """One row per rule: name, source, applies_to, channel, conditions (as JSON), cooldown, cap,
    enabled."""
    return pd.DataFrame([{
        "name": r.name, "source": r.source, "applies_to": r.applies_to, "channel": r.channel,
        "when": json.dumps(r.to_dict()["when"]), "cooldown_minutes": r.cooldown_minutes,
        "daily_cap": r.daily_cap, "enabled": r.enabled, "description": r.description} for r in rule_list])


def rule_hits(day: dt.date | None = None, rule: str | None = None, path: Path = None) -> pd.DataFrame:
    """Rule hits of the daily (``flow.rule_alerts``) and near-live (``live.rule_alerts``)
    paths, newest first, with a ``path`` column; optionally of one session and one rule."""
    have = existing_tables(path)
    parts, params = [], []
    for label, t in (("daily", RULE_ALERTS.fqn), ("live", LIVE_RULE_ALERTS.fqn)):
        if t not in have:
            continue
        where, p = ["true"], []
        if day is not None:
            where.append("trade_date = ?")
            p.append(day)
        if rule:
            where.append("rule = ?")
            p.append(rule)
        parts.append(f"SELECT '{label}' AS path, * FROM {t} WHERE {' AND '.join(where)}")
        params += p
    if not parts:
        return pd.DataFrame(columns=["path", *RULE_ALERTS.column_names])
    return read_frame(" UNION ALL ".join(parts) + " ORDER BY ts DESC, rule", params, path)


def rule_preview(spec: Mapping[str, Any], day: dt.date, cfg: Mapping[str, Any], path: Path = None) -> pd.DataFrame:
    """What one rule (not saved) would record on a stored session: its hits alone, from an empty
    state, by the daily path's evaluation (``RuleError`` for a bad rule)."""
    from primeflow_lib.alerts.daily_rules import session_rows

    rule = rl.parse_rule(spec, source="warehouse")
    problems = rl.check_rules(cfg, [rule])
    if problems:
        raise rl.RuleError("; ".join(problems))
    p = require(path)
    with warehouse.connect(p, read_only=True) as con:
        rows, _ = session_rows(con, day, cfg, [rule])
    hits = rl.evaluate_rows(rows, [rule], rl.RuleState(), rl.EarningsGate.from_config(cfg))
    return rl.hits_frame(hits)


def save_rule(spec: Mapping[str, Any], cfg: Mapping[str, Any], *, live: Path = None, read_copy: Path = None,
              publish: bool = True, environ: Mapping[str, str] | None = None) -> rl.Rule:
    """Validate a rule against config and the other rules (unique name, known channel whose
    secret is set) and store it in ``live.alert_rules`` (replacing a saved rule of that name),
    then republish. A name defined in config or built in cannot be saved here. Nothing is
    written when validation fails (:class:`~primeflow_lib.alerts.rules.RuleError`)."""
    rule = rl.parse_rule(spec, source="warehouse")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con, [ALERT_RULES])
        others = [r for r in load_rules(con, cfg) if not (r.source == "warehouse" and r.name == rule.name)]
        clash = [r for r in others if r.name == rule.name]
        if clash:
            raise rl.RuleError(f"rule {rule.name!r} is defined in {clash[0].source} "
                               f"({'config.yaml alerts.rules' if clash[0].source == 'config' else 'the kind routing'}); "
                               "choose another name, or edit it there")
        problems = rl.check_rules(cfg, [rule]) + (rl.check_rule_secrets(cfg, [rule], environ) if rule.enabled else [])
        if problems:
            raise rl.RuleError("; ".join(problems))
        old = con.execute(f"SELECT created_at FROM {ALERT_RULES.fqn} WHERE name = ?", [rule.name]).fetchall()
        row = pd.DataFrame([{"name": rule.name, "rule_json": json.dumps(rule.to_dict()), "enabled": rule.enabled,
                             "created_at": old[0][0] if old else now, "updated_at": now}])
        with warehouse.transaction(con):
            warehouse.upsert_rows(con, ALERT_RULES, row)
        if publish:
            warehouse.publish_read_copy(con=con, dst=read_copy)
    return rule


def delete_rule(name: str, *, live: Path = None, read_copy: Path = None, publish: bool = True) -> bool:
    """Delete a saved rule (config and built-in rules are not in the warehouse)."""
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con, [ALERT_RULES])
        gone = bool(con.execute(f"DELETE FROM {ALERT_RULES.fqn} WHERE name = ? RETURNING name", [name]).fetchall())
        if publish and gone:
            warehouse.publish_read_copy(con=con, dst=read_copy)
    return gone


# ------------------------------------------------------------------------------- summary


def _usd(x: Any) -> str:
    if x is None or pd.isna(x):
        return "n/a"
    a = abs(float(x))
    for thr, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if a >= thr:
            return f"{'-' if x < 0 else ''}${a / thr:,.1f}{suf}"
    return f"{'-' if x < 0 else ''}${a:,.0f}"


def desk_summary(cfg: Mapping[str, Any], path: Path = None) -> list[str]:
    """One line per desk view on the latest session of the read copy (``make demo`` prints
    them); a view whose table is missing says so."""
    lines: list[str] = []
    days = tide_sessions(path)
    if days:
        d = days[0]
        m = tide("market", "ALL", d, cfg, path)
        lead = tide_leaders(d, 1, path)
        best, worst = lead.iloc[0], lead.iloc[-1]
        lines.append(f"Tide (marts.tide_minute) {d}: market net premium at the close {_usd(m['cum_net_premium'].iloc[-1])} "
                     f"(calls {_usd(m['cum_net_call_premium'].iloc[-1])}, puts {_usd(m['cum_net_put_premium'].iloc[-1])}); "
                     f"most bullish {best['ticker']} {_usd(best['net_premium'])}, most bearish {worst['ticker']} "
                     f"{_usd(worst['net_premium'])}")
    else:
        lines.append("Tide (marts.tide_minute): not built")
    snap = vol_snapshot(None, path)
    if snap is not None and len(snap):
        top = snap.iloc[0]
        lines.append(f"IV (marts.iv_stats) {pd.Timestamp(top['trade_date']).date()}: highest IV rank {top['underlying']} "
                     f"{top['iv_rank']:.2f} (percentile {top['iv_percentile']:.2f}, 30-day ATM IV {top['atm_iv_30d']:.1%}) "
                     f"over {int(top['sessions_used'])} of the {int(top['lookback_sessions'])} sessions asked"
                     + (" (short history)" if top["short_history"] else ""))
    else:
        lines.append("IV (marts.iv_stats): not built")
    od = oi_sessions(path)
    if od:
        mv = oi_movers(od[0], 1, path)
        miss = oi_missing(od[0], path)
        if len(mv):
            r = mv.iloc[0]
            prev = 0 if pd.isna(r["prev_open_interest"]) else int(r["prev_open_interest"])
            lines.append(f"OI change (marts.oi_change) {od[0]}: largest {r['option_symbol']} {int(r['oi_change']):+,} "
                         f"contracts ({prev:,} -> {int(r['open_interest']):,}, {r['status']}); "
                         f"{len(miss)} underlying(s) without the previous session's snapshot")
    else:
        lines.append("OI change (marts.oi_change): not built")
    ed = exposure_sessions(path)
    bench = str((cfg.get("market_regime") or {}).get("benchmark", "SPY"))
    if ed:
        tot = exposure_totals(ed[0], path)
        row = tot[tot["underlying"] == bench]
        row = row.iloc[0] if len(row) else tot.iloc[0]
        lines.append(f"Exposure (market.greek_exposure / marts.exposure_by_strike) {ed[0]} {row['underlying']}: "
                     f"GEX {_usd(row['gex'])} per 1 %, DEX {_usd(row['dex'])}, vanna {_usd(row['vanna'])} per vol point, "
                     f"charm {_usd(row['charm'])} per day; 0DTE GEX {_usd(row['gex_0dte'])} ({row['convention']})")
        mp = max_pain(str(row["underlying"]), ed[0], path)
        if mp is not None and len(mp):
            r = mp.iloc[0]
            lines.append(f"Max pain (marts.max_pain) {ed[0]} {row['underlying']} {pd.Timestamp(r['expiry']).date()}: "
                         f"{r['max_pain']:,.2f} (spot {r['spot']:,.2f}, {r['max_pain_dist']:+.2%})")
        elif mp is None:
            lines.append("Max pain (marts.max_pain): not built")
    else:
        lines.append("Exposure (market.greek_exposure): not built")
    hits = rule_hits(None, None, path)
    if len(hits):
        sent = hits[hits["outcome"] == "alert"]
        per = sent.groupby("rule").size().sort_values(ascending=False)
        suppressed = len(hits) - len(sent)
        lines.append(f"Alert rules (flow.rule_alerts, live.rule_alerts): {len(sent):,} alerts by "
                     + ", ".join(f"{k} {v:,}" for k, v in per.items()) + f"; {suppressed:,} suppressed (cooldown, cap, "
                     "earnings gate)")
    sessions = tape_sessions("daily", path)
    if sessions:
        q = {"where": {"ticker": [bench], "event_type": "sweep", "side": ["ask", "above_ask"],
                       "premium": {"gte": 250000}}, "sort": "-premium", "limit": 50}
        res = tape(q, cfg, path)
        lines.append(f"Tape {res.start}: {bench} sweeps at the ask >= $250K: {res.total:,} orders "
                     f"(filtered in {res.seconds * 1000:.0f} ms)")
    return lines
