"""The alert rules on the daily path: every rule hit of one session, from the stored signals and
orders, by the same evaluation as the near-live path (:func:`primeflow_lib.alerts.rules.
evaluate_rows` over rows enriched by :mod:`primeflow_lib.flow.enrich`).

The daily path records (``flow.rule_alerts``) and never sends: delivery belongs to the
near-live path, so a backfill of last month never pages anyone. The day's hits answer "what
would this rule have sent", with the same cooldowns, caps and earnings gate.

Orders are first narrowed in SQL to those passing some order rule's conditions (the same
conditions, :meth:`~primeflow_lib.flow.criteria.Condition.sql`); each candidate is then
evaluated row by row, which decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib.alerts.outbox import load_rules
from primeflow_lib.alerts.rules import (
    EarningsGate,
    RuleState,
    clean_row,
    evaluate_rows,
    hits_frame,
)
from primeflow_lib.flow.criteria import where_sql
from primeflow_lib.flow.enrich import DeskSettings, orders_sql, signals_sql
from primeflow_lib.schema.desk import EARNINGS


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {f"{s}.{n}" for s, n in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}


def session_rows(con: duckdb.DuckDBPyConnection, day: dt.date, cfg: Mapping[str, Any],
                 rules: list | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The enriched signals of ``day`` and the orders that some enabled order rule may match
    (``(rows, counts)``; counts: ``signals``, ``orders_candidates``)."""
    rules = load_rules(con, cfg) if rules is None else rules
    settings = DeskSettings.from_config(cfg)
    tables = _tables(con)
    earn = EARNINGS.fqn if EARNINGS.fqn in tables else None
    rows: list[dict[str, Any]] = []
    counts = {"signals": 0, "orders_candidates": 0}
    if "flow.signals" in tables:
        sql, params = signals_sql("flow.signals", settings, earnings=earn)
        sig = con.execute(f"SELECT * FROM ({sql}) WHERE trade_date = ?", [*params, day]).df()
        counts["signals"] = len(sig)
        rows += [clean_row(r) for r in sig.to_dict(orient="records")]
    order_rules = [r for r in rules if r.enabled and r.applies_to == "order"]
    if order_rules and "flow.flow_events" in tables:
        structure = bool(con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'flow' "
            "AND table_name = 'flow_events' AND column_name = 'structure'").fetchone()[0])
        sql, params = orders_sql("flow.flow_events", settings,
                                 context="flow.flow_context" if "flow.flow_context" in tables else None,
                                 earnings=earn, has_structure=structure, sessions=(day, day))
        ors, wparams = [], []
        for r in order_rules:
            w, p = where_sql(r.when)
            ors.append(f"({w})")
            wparams += p
        orders = con.execute(f"SELECT * FROM ({sql}) WHERE {' OR '.join(ors)}", [*params, *wparams]).df()
        counts["orders_candidates"] = len(orders)
        rows += [clean_row(r) for r in orders.to_dict(orient="records")]
    return rows, counts


def daily_rule_hits(con: duckdb.DuckDBPyConnection, day: dt.date, cfg: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(flow.rule_alerts rows of day, stats)``: every rule (built-in, config, saved on the
    workbench) over the session's signals and orders, from an empty state (each session
    starts with fresh cooldowns and caps). ``stats``: ``rules``, ``signals``,
    ``orders_candidates``, ``hits`` and ``by_rule`` (rule -> outcome -> count)."""
    rules = load_rules(con, cfg)
    gate = EarningsGate.from_config(cfg)
    rows, counts = session_rows(con, day, cfg, rules)
    hits = evaluate_rows(rows, rules, RuleState(), gate)
    by_rule: dict[str, dict[str, int]] = {}
    for h in hits:
        by_rule.setdefault(h.rule, {}).setdefault(h.outcome, 0)
        by_rule[h.rule][h.outcome] += 1
    stats = {"rules": len([r for r in rules if r.enabled]), **counts, "hits": len(hits), "by_rule": by_rule}
    return hits_frame(hits), stats
