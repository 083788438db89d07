"""A relay claiming rows in its caller's transaction (:meth:`Relay.claim_in`) and sending them
right after (:meth:`Relay.deliver`), as the streaming path's writer does with each commit's
alerts: sent once, never taken back by another relay of the process while held, re-queued and
sent once when the sending ended without them, paced like a drain, quarantined prints refused."""

from __future__ import annotations

import datetime as dt
import json
import time

import pandas as pd
from alert_helpers import FakeClock, Reply, alerts_cfg, make_signal

from primeflow_lib import warehouse
from primeflow_lib.alerts import enqueue_alerts
from primeflow_lib.alerts.outbox import OUTBOX, QUARANTINED_REASON
from primeflow_lib.schema import table

HOOK = {"dest": {"type": "webhook", "env": "HOOK_URL"}}


def _claimed_commit(outbox_db, relay, signals, cfg) -> list[dict]:
    """Enqueue ``signals`` and claim their rows with ``relay`` in one transaction."""
    with outbox_db.connect() as con:
        con.execute("BEGIN")
        enqueue_alerts(con, signals, cfg)
        due = con.execute(f"SELECT alert_key, channel FROM {OUTBOX} WHERE status = 'pending' "
                          "ORDER BY created_at, alert_key").fetchall()
        rows = relay.claim_in(con, due)
        con.execute("COMMIT")
    return rows


def _statuses(outbox_db) -> dict[str, str]:
    return {r["signal_id"]: r["status"] for r in outbox_db.rows()}


def test_rows_claimed_in_the_commit_are_sent_once_and_logged(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(204, "")])
    cfg = alerts_cfg(HOOK, {"default": "dest"})
    env = {"HOOK_URL": srv.url + "/hook/x"}
    sender = relay_factory(cfg, env)
    sigs = [make_signal(i) for i in range(3)]
    with sender.holding():
        rows = _claimed_commit(outbox_db, sender, sigs, cfg)
        assert sorted(r["signal_id"] for r in rows) == sorted(s.signal_id for s in sigs)
        assert set(_statuses(outbox_db).values()) == {"sending"}
        rep = sender.deliver(rows)
    assert rep.sent == 3 and rep.attempts == 3
    assert sorted(h.body["signal_id"] for h in srv.hits) == sorted(s.signal_id for s in sigs)
    assert set(_statuses(outbox_db).values()) == {"sent"}
    logged = outbox_db.rows("SELECT alert_key, outcome FROM live.alert_deliveries")
    assert len(logged) == 3 and {r["outcome"] for r in logged} == {"ok"}
    # nothing is left for a drain
    assert relay_factory(cfg, env).drain(max_seconds=2).attempts == 0
    assert len(srv.hits) == 3


def test_a_held_claim_is_not_taken_back_by_another_relay_of_the_process(server_factory, outbox_db,
                                                                           relay_factory):
    srv = server_factory([Reply(204, "")])
    cfg = alerts_cfg(HOOK, {"default": "dest"})
    env = {"HOOK_URL": srv.url + "/hook/x"}
    sender, drainer = relay_factory(cfg, env), relay_factory(cfg, env)
    with sender.holding():
        rows = _claimed_commit(outbox_db, sender, [make_signal(i) for i in range(2)], cfg)
        # the relay thread drains meanwhile, recovering first: the claims are alive
        rep = drainer.drain(max_seconds=2, recover=True)
        assert rep.recovered == 0 and rep.attempts == 0
        sender.deliver(rows)
    assert len(srv.hits) == 2 and set(_statuses(outbox_db).values()) == {"sent"}


def test_claims_left_when_the_sending_ended_are_requeued_and_sent_once(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(204, "")])
    cfg = alerts_cfg(HOOK, {"default": "dest"})
    env = {"HOOK_URL": srv.url + "/hook/x"}
    sender, drainer = relay_factory(cfg, env), relay_factory(cfg, env)
    with sender.holding():
        _claimed_commit(outbox_db, sender, [make_signal(i) for i in range(4)], cfg)
    # the sending never happened (the writer failed between its commit and the POSTs)
    assert set(_statuses(outbox_db).values()) == {"sending"}
    rep = drainer.drain(max_seconds=5, recover=True)
    assert rep.recovered == 4 and rep.sent == 4
    assert len(srv.hits) == 4 and set(_statuses(outbox_db).values()) == {"sent"}


def test_a_paced_destination_gets_what_its_pacing_allows_the_rest_stays_pending(server_factory, outbox_db,
                                                                                   relay_factory):
    clock = FakeClock(time.time() + 1.0)  # the rows are due (enqueued at the real time)
    srv = server_factory([Reply(200, "ok")], clock=clock)
    cfg = alerts_cfg({"s": {"type": "slack", "env": "S"}}, {"default": "s"})
    env = {"S": srv.url + "/services/T/B/SLACKsecret0123456789"}
    sender = relay_factory(cfg, env, clock=clock)
    with sender.holding():
        rows = _claimed_commit(outbox_db, sender, [make_signal(i) for i in range(3)], cfg)
        assert len(rows) == 1  # one Slack message a second, as a drain would claim
        assert sender.deliver(rows).sent == 1
    assert sorted(_statuses(outbox_db).values()) == ["pending", "pending", "sent"]
    # the drain sends the rest, paced
    rep = relay_factory(cfg, env, clock=clock, pacer=sender.pacer).drain(max_seconds=10)
    assert rep.sent == 2
    t = srv.fake_times()
    assert len(t) == 3 and min(b - a for a, b in zip(t, t[1:], strict=False)) >= 1.0


def test_a_quarantined_print_is_refused_in_the_commit_and_never_sent(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(204, "")])
    cfg = alerts_cfg(HOOK, {"default": "dest"})
    env = {"HOOK_URL": srv.url + "/hook/x"}
    day = dt.date(2025, 3, 3)
    q = pd.DataFrame([{
        "target_table": "flow.option_prints", "trade_date": day, "source": "live:x.parquet", "row_number": 3,
        "field": "price", "value": "1e12", "reason": "premium above plausibility.max_premium",
        "row_json": json.dumps({"print_id": "bad-print", "price": 1e12}),
        "quarantined_at": dt.datetime(2025, 3, 3, 15),
    }])
    with outbox_db.connect() as con:
        warehouse.ensure_tables(con, [table("flow.quarantine")])
        warehouse.write_quarantine(con, "flow", q, source="live:x.parquet", trade_date=day)
    good, bad = make_signal(1, print_ids=("p1",)), make_signal(2, print_ids=("p3", "bad-print"))
    sender = relay_factory(cfg, env)
    with sender.holding():
        rows = _claimed_commit(outbox_db, sender, [good, bad], cfg)
        assert [r["signal_id"] for r in rows] == [good.signal_id]
        rep = sender.deliver(rows)
    assert rep.sent == 1 and rep.refused_quarantined == 1 and rep.failed_permanent == 1
    assert [h.body["signal_id"] for h in srv.hits] == [good.signal_id]
    row = {r["signal_id"]: r for r in outbox_db.rows()}[bad.signal_id]
    assert row["status"] == "failed_permanent" and row["last_error"].startswith(QUARANTINED_REASON)
