"""The frames write into their declared DuckDB tables and read back into the models."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
from flow_builders import DAY, build_scenario

from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.heartbeat import heartbeat_frame, heartbeat_row
from primeflow_lib.flow.paper import paper_trade
from primeflow_lib.models import PaperPosition, Signal
from primeflow_lib.schema import table


def test_frames_insert_into_declared_tables(cfg):
    sc = build_scenario(cfg)
    res = score_batch(
        sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, sc["history"]
    )
    pos = paper_trade(res.signals, sc["bars_1m"], None, cfg, dt.datetime(2025, 6, 13, 18))
    hb = heartbeat_frame(
        heartbeat_row(res, source="t", positions=pos, now=dt.datetime(2025, 6, 13, 10, 41))
    )
    bad = sc["prints"].copy()
    bad.loc[0, "price"] = -1.0
    q = score_batch(bad, None, None, None, cfg).quarantine
    con = duckdb.connect()
    for s in ("flow", "live"):
        con.execute(f"CREATE SCHEMA {s}")
    frames = {
        "flow.flow_events": res.events,
        "flow.flow_context": res.context,
        "flow.signals": res.signals,
        "live.paper_positions": pos,
        "live.heartbeat": hb,
        "flow.quarantine": q,
    }
    for fqn, frame in frames.items():
        t = table(fqn)
        con.execute(t.ddl())
        con.register("frame_view", frame)
        con.execute(f"INSERT INTO {fqn} SELECT * FROM frame_view")
        con.unregister("frame_view")
        assert con.execute(f"SELECT count(*) FROM {fqn}").fetchone()[0] == len(frame), fqn
    back = con.execute("SELECT * FROM flow.signals ORDER BY ts, kind").fetch_df()
    sig = Signal.from_row(back.iloc[0].to_dict())
    assert sig.trade_date == DAY.date() or pd.Timestamp(sig.trade_date) == DAY
    assert sig.tags and sig.rules_passed and sig.context["spot"] > 0
    assert con.execute("SELECT count(DISTINCT kind) FROM flow.signals").fetchone()[0] == 3
    row = con.execute("SELECT * FROM live.paper_positions LIMIT 1").fetch_df().iloc[0]
    assert PaperPosition.from_row(row.to_dict()).kind in ("SCALP", "DAY_TRADE", "SWING")
    ev_types = con.execute("SELECT event_type FROM flow.flow_events").fetchall()
    assert {r[0] for r in ev_types} == {"sweep", "block"}
