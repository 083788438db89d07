"""Defence in depth: the relay never sends an alert whose signal's event references a print that
validation quarantined, even when such a row is forced into the outbox."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from alert_helpers import Reply, alerts_cfg, make_signal

from primeflow_lib import warehouse
from primeflow_lib.alerts.outbox import QUARANTINED_REASON
from primeflow_lib.schema import table


def _quarantine(outbox_db, print_id: str, day=dt.date(2025, 3, 3)) -> None:
    q = pd.DataFrame([{
        "target_table": "flow.option_prints", "trade_date": day, "source": "live:x.parquet", "row_number": 3,
        "field": "price", "value": "1e12", "reason": "premium above plausibility.max_premium",
        "row_json": json.dumps({"print_id": print_id, "price": 1e12}), "quarantined_at": dt.datetime(2025, 3, 3, 15),
    }])
    with outbox_db.connect() as con:
        warehouse.ensure_tables(con, [table("flow.quarantine")])
        warehouse.write_quarantine(con, "flow", q, source="live:x.parquet", trade_date=day)


def test_forced_outbox_row_with_a_quarantined_print_is_failed_not_sent(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(204, ""), Reply(204, "")])
    cfg = alerts_cfg({"dest": {"type": "webhook", "env": "HOOK_URL"}}, {"default": "dest"})
    env = {"HOOK_URL": srv.url + "/hook/WEBHOOKsecretTOKEN0123456789"}
    _quarantine(outbox_db, "bad-print")
    good = make_signal(1, print_ids=("p1", "p2"))
    bad = make_signal(2, print_ids=("p3", "bad-print"))
    assert outbox_db.enqueue([good, bad], cfg) == 2  # forced in: scoring would never have made it
    report = relay_factory(cfg, env).drain(max_seconds=5)
    assert report.sent == 1 and report.refused_quarantined == 1 and report.failed_permanent == 1
    assert len(srv.hits) == 1 and srv.hits[0].body["signal_id"] == good.signal_id
    rows = {r["signal_id"]: r for r in outbox_db.rows()}
    assert rows[good.signal_id]["status"] == "sent"
    r = rows[bad.signal_id]
    assert r["status"] == "failed_permanent" and r["sent_at"] is None
    assert r["last_error"].startswith(QUARANTINED_REASON) and "bad-print" in r["last_error"]
    # a second drain does not pick it up again
    assert relay_factory(cfg, env).drain(max_seconds=2).attempts == 0


def test_no_quarantine_table_means_nothing_to_refuse(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(204, "")])
    cfg = alerts_cfg({"dest": {"type": "webhook", "env": "HOOK_URL"}}, {"default": "dest"})
    outbox_db.enqueue([make_signal(1)], cfg)
    assert relay_factory(cfg, {"HOOK_URL": srv.url + "/hook/x"}).drain(max_seconds=5).sent == 1
