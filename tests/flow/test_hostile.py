"""Hostile inputs: every bad row is quarantined or flagged by a stated rule, nothing crashes,
nothing is silently dropped, and nothing bad is scored."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from flow_builders import build_scenario, make_prints

from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.validate import validate_prints
from primeflow_lib.schema import table
from primeflow_lib.schema.quarantine import QUARANTINE_COLUMNS


@pytest.mark.parametrize(
    ("field", "value", "reason_part"),
    [
        ("price", np.nan, "price"),
        ("price", 0.0, "price"),
        ("price", -1.5, "price"),
        ("price", np.inf, "price"),
        ("size", 0, "size"),
        ("size", -5, "size"),
        ("size", np.nan, "size"),
        ("size", 2.5, "size"),
        ("option_symbol", "NOT A SYMBOL", "OCC"),
        ("option_symbol", None, "OCC"),
        ("sip_timestamp", None, "sip_timestamp"),
        ("exchange", None, "exchange"),
        ("trade_date", None, "trade_date"),
    ],
)
def test_bad_values_are_quarantined_with_field_value_row(field, value, reason_part, cfg):
    p = make_prints([{"t": "10:00:00"}, {"t": "10:00:01"}, {"t": "10:00:02"}])
    p[field] = p[field].astype(object)
    p.loc[1, field] = value
    res = score_batch(p, None, None, None, cfg, source="hostile.parquet")
    q = res.quarantine
    assert list(q.columns) == QUARANTINE_COLUMNS == table("flow.quarantine").column_names
    assert len(q) == 1
    row = q.iloc[0]
    assert row.field == field and row.row_number == 1 and reason_part in row.reason
    assert row.source == "hostile.parquet" and row.target_table == "flow.option_prints"
    assert json.loads(row.row_json)["print_id"] == p.print_id[1]
    assert len(res.events) == 2  # the other rows still classified
    assert p.print_id[1] not in ",".join(res.events.print_ids)
    assert res.stats["prints"]["quarantined_rows"] == 1
    assert sum(res.stats["quarantined_by_reason"].values()) == 1


def test_duplicates_keep_the_first(cfg):
    # the same record re-fed (same position at the source: seq), under another print id
    p = make_prints([{"t": "10:00:00", "size": 3}, {"t": "10:00:01"}])
    dup = p.iloc[[0]].copy()
    dup["print_id"] = "other-id"
    dup["conditions"] = " 209 "
    p.loc[0, "conditions"] = "209"
    p = pd.concat([p, dup], ignore_index=True)
    res = score_batch(p, None, None, None, cfg)
    assert list(res.quarantine.reason.str.startswith("duplicate print")) == [True]
    assert int(res.quarantine.row_number.iloc[0]) == 2
    assert res.stats["prints"]["duplicates"] == 1
    assert int(res.events["size"].sum()) == 13


def test_identical_fills_with_distinct_positions_are_kept(cfg):
    # two genuine fills in the same millisecond, same price, size and exchange (the Cboe case)
    p = make_prints([{"t": "10:00:00.125", "size": 500}, {"t": "10:00:00.125", "size": 500}])
    res = score_batch(p, None, None, None, cfg)
    assert res.stats["prints"]["duplicates"] == 0 and len(res.quarantine) == 0
    assert int(res.events["size"].sum()) == 1000


def test_vendor_sequence_is_the_identity(cfg):
    rows = [{"t": "10:00:00.125", "size": 500, "vendor_sequence": s} for s in (11, 12, 11)]
    p = make_prints(rows)
    p["seq"] = [0, 1, 2]  # positions differ; the vendor's sequence says rows 0 and 2 are one record
    res = score_batch(p, None, None, None, cfg)
    assert res.stats["prints"]["duplicates"] == 1
    assert list(res.quarantine.row_number) == [2]
    assert int(res.events["size"].sum()) == 1000
    # one sequence number on two different records: both kept, counted
    p.loc[2, "size"] = 7
    res = score_batch(p, None, None, None, cfg)
    assert res.stats["prints"]["duplicates"] == 0
    assert res.stats["prints"]["vendor_sequence_conflicts"] == 1
    assert int(res.events["size"].sum()) == 1007


def test_same_key_different_conditions_is_not_a_duplicate(cfg):
    p = make_prints([{"t": "10:00:00"}, {"t": "10:00:00", "conditions": "209"}])
    assert score_batch(p, None, None, None, cfg).stats["prints"]["duplicates"] == 0


def test_sip_timestamps_are_compared_exactly(cfg):
    # 100 ns apart: a float64 round-trip would merge them
    p = make_prints([{"t": "10:00:00"}, {"t": "10:00:00"}])
    p.loc[1, "sip_timestamp"] = p.loc[0, "sip_timestamp"] + 100
    res = score_batch(p, None, None, None, cfg)
    assert res.stats["prints"]["duplicates"] == 0 and len(res.events) == 1
    assert validate_prints(p).counts["rows_quarantined"] == 0


def test_unknown_condition_kept_flagged_never_signals(cfg):
    sc = build_scenario(cfg)
    p = sc["prints"].copy()
    p["conditions"] = p["conditions"].where(p["conditions"] != "219", "219,999")
    res = score_batch(p, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"])
    sweeps = res.events[res.events.event_type == "sweep"]
    assert len(sweeps) == 2 and sweeps.has_unknown_condition.all()
    assert not res.signals.event_id.isin(sweeps.event_id).any()
    assert res.stats["prints"]["unknown_condition_prints"] == 8
    assert res.stats["funnel"]["SCALP"]["failed"]["known_conditions"] == 2


def test_missing_quote_and_crossed_quote_are_flagged_not_dropped(cfg):
    p = make_prints(
        [
            {"t": "10:00:00", "bid": None, "ask": None},
            {"t": "10:00:01", "bid": 3.0, "ask": 2.0, "price": 2.6},
        ]
    )
    res = score_batch(p, None, None, None, cfg)
    assert len(res.events) == 2 and len(res.quarantine) == 0
    assert set(res.events.side_confidence) == {"low"}
    assert res.stats["prints"]["no_quote_prints"] == 1
    assert res.stats["prints"]["crossed_quote_prints"] == 1


def test_missing_column_quarantines_everything_without_crashing(cfg):
    p = make_prints([{"t": "10:00:00"}, {"t": "10:00:01"}]).drop(columns=["price"])
    res = score_batch(p, None, None, None, cfg)
    assert len(res.events) == 0 and len(res.signals) == 0
    assert set(res.quarantine.row_number) == {0, 1}
    assert "required column 'price' is missing" in res.quarantine.reason.iloc[0]


def test_empty_batch(cfg):
    p = make_prints([{"t": "10:00:00"}]).iloc[:0]
    res = score_batch(p, None, None, None, cfg)
    assert len(res.events) == len(res.signals) == len(res.quarantine) == 0
    assert res.stats["events"] == 0


def test_hostile_file_nothing_scored_from_bad_rows(cfg):
    """docs/reliability.md scenario 12 in miniature: a scenario batch plus every kind of bad row."""
    sc = build_scenario(cfg)
    good = sc["prints"]
    bad = make_prints(
        [
            {"t": "10:30:00.100", "price": np.nan, "size": 5000},
            {"t": "10:30:00.200", "price": -2.5, "size": 5000},
            {"t": "10:30:00.300", "price": np.inf, "size": 5000},
            {"t": "10:30:00.400", "size": -100},
            {"t": "10:30:00.500", "size": 0},
            {"t": "10:30:00.600", "option_symbol": "../../etc/passwd", "size": 5000},
        ]
    )
    bad["print_id"] = [f"bad{i}" for i in range(len(bad))]
    p = pd.concat([good, bad, good.iloc[[0]]], ignore_index=True)
    base = score_batch(good, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"])
    res = score_batch(p, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"])
    assert len(res.quarantine) == 7
    assert not res.events.print_ids.str.contains("bad").any()
    assert list(res.signals.signal_id) == list(base.signals.signal_id)
