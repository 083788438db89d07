"""The stream store keeps the alert rules, earnings and the session's rule hits between commits
(:class:`~primeflow_lib.alerts.outbox.AlertInputs`): the alerts and rule hits are exactly those
of reading them from the database at every commit, and a commit that fails drops what it kept."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest
from alert_helpers import make_signal

from primeflow_lib import warehouse as db
from primeflow_lib.alerts import enqueue_alerts, ensure_alert_tables
from primeflow_lib.alerts.outbox import AlertInputs, load_rule_state, load_rules
from primeflow_lib.config import default_config
from primeflow_lib.live.stream import store as store_mod
from primeflow_lib.live.stream.scorer import StepResult
from primeflow_lib.live.stream.store import StreamStore
from primeflow_lib.schema.flow import SIGNALS

T0 = dt.datetime(2025, 3, 3, 10, 31, 5)
DAY = T0.date()


def _cfg() -> dict:
    cfg = default_config()
    cfg["alerts"]["rules"] = [
        {"name": "spy_any", "channel": "file", "cooldown_minutes": 3, "when": {"ticker": "SPY"}},
        {"name": "big", "channel": "file", "daily_cap": 2, "when": {"premium": {"gte": 1_000_000}}},
    ]
    return cfg


def _batches() -> list[list]:
    sigs = [make_signal(i, ts=T0 + dt.timedelta(minutes=i), ticker="SPY" if i % 3 else "QQQ") for i in range(12)]
    return [sigs[0:2], sigs[2:3], sigs[3:7], sigs[7:12]]


def _frame(sigs: list) -> pd.DataFrame:
    """``flow.signals`` rows of ``sigs`` (what a scoring step hands the store)."""
    rows = []
    for s in sigs:
        d = s.to_dict()
        d["tags"] = ",".join(s.tags)
        d["context_json"] = json.dumps(dict(s.context or {}))
        d["print_ids"] = ",".join(s.print_ids)
        for k in ("rules_passed", "rules_failed"):
            d[k] = json.dumps(list(d[k]))
        d.update(side_confidence="high", sentiment="bullish", n_prints=3, day_volume=5000, score_json="{}")
        rows.append(d)
    return pd.DataFrame(rows).reindex(columns=SIGNALS.column_names)


def _step(sigs: list) -> StepResult:
    return StepResult(events=pd.DataFrame(), context=pd.DataFrame(), signals=_frame(sigs),
                      quarantine=pd.DataFrame(), divergences=[], done_rx=pd.Series([], dtype="int64").to_numpy())


def _decided(con: duckdb.DuckDBPyConnection) -> tuple[list, list]:
    hits = con.execute("SELECT rule, row_id, outcome, channel FROM live.rule_alerts ORDER BY ALL").fetchall()
    alerts = con.execute("SELECT alert_key, signal_id, channel, rule FROM live.alert_outbox ORDER BY ALL").fetchall()
    return hits, alerts


def test_kept_inputs_decide_exactly_what_reading_them_each_commit_decides(tmp_path):
    cfg = _cfg()
    plain = duckdb.connect(str(tmp_path / "plain.duckdb"))
    ensure_alert_tables(plain)
    kept = duckdb.connect(str(tmp_path / "kept.duckdb"))
    ensure_alert_tables(kept)
    inputs = AlertInputs(rules=load_rules(kept, cfg), earnings=None)
    sent_plain, sent_kept = [], []
    for batch in _batches():
        with db.transaction(plain):
            sent_plain.append(enqueue_alerts(plain, batch, cfg))
        with db.transaction(kept):
            sent_kept.append(enqueue_alerts(kept, batch, cfg, inputs=inputs))
    assert sent_kept == sent_plain
    hits, alerts = _decided(plain)
    assert {o for _, _, o, _ in hits} >= {"alert", "cooldown", "daily_cap"}  # the memory mattered
    assert _decided(kept) == (hits, alerts)
    # the kept state is the stored one
    st = load_rule_state(kept, [DAY])
    assert (inputs.days, inputs.state.sent, inputs.state.last_alert, inputs.state.seen) == (
        (DAY,), st.sent, st.last_alert, st.seen)


def test_the_store_commits_the_same_alerts_and_drops_its_memory_when_a_commit_fails(tmp_path, monkeypatch):
    cfg = _cfg()
    plain = duckdb.connect(str(tmp_path / "plain.duckdb"))
    ensure_alert_tables(plain)
    st = StreamStore(tmp_path / "stream-main.duckdb", "main")
    try:
        batches = _batches()
        for batch in batches[:2]:
            with db.transaction(plain):
                enqueue_alerts(plain, batch, cfg)
            st.commit(_step(batch), cfg, day=DAY)

        real = store_mod.enqueue_alerts

        def fails_after_deciding(*a, **k):
            real(*a, **k)  # the kept rule state now holds this batch's hits
            raise RuntimeError("disk full")

        monkeypatch.setattr(store_mod, "enqueue_alerts", fails_after_deciding)
        with pytest.raises(RuntimeError, match="disk full"):
            st.commit(_step(batches[2]), cfg, day=DAY)
        monkeypatch.setattr(store_mod, "enqueue_alerts", real)
        for batch in batches[2:]:  # the failed batch again (recovery scores it again), then the next
            with db.transaction(plain):
                enqueue_alerts(plain, batch, cfg)
            assert st.commit(_step(batch), cfg, day=DAY) > 0
        with st.cursor() as cur:
            assert _decided(cur) == _decided(plain)
    finally:
        st.close()


def test_another_config_reads_the_rules_again(tmp_path):
    """The kept rules belong to the config they were read under: a commit with another config
    (another rule) evaluates that one's rules."""
    st = StreamStore(tmp_path / "stream-main.duckdb", "main")
    try:
        first, second = _batches()[0], _batches()[1]
        st.commit(_step(first), _cfg(), day=DAY)
        cfg = _cfg()
        cfg["alerts"]["rules"].append({"name": "every_signal", "channel": "file", "when": {}})
        st.commit(_step(second), cfg, day=DAY)
        with st.cursor() as cur:
            rules = {r for (r,) in cur.execute("SELECT DISTINCT rule FROM live.rule_alerts").fetchall()}
        assert "every_signal" in rules
    finally:
        st.close()


def test_a_commit_claims_its_alerts_for_the_writer_to_send_and_a_rescored_step_sends_nothing_new(
        tmp_path):
    """The writer's path: the commit claims the alerts it enqueued in its transaction,
    ``on_alerts`` gets them and they are sent at once. The same steps scored again after a
    restart claim nothing: rows a crash left pending (here: a commit made without claiming) are
    the relay's drain's, which sends them once."""
    from alert_helpers import Reply, ScriptedServer

    from primeflow_lib.alerts.relay import Relay
    from primeflow_lib.alerts.routing import resolve_channels

    srv = ScriptedServer([Reply(204, "")])
    cfg = _cfg()
    cfg["alerts"]["channels"]["file"] = {"type": "webhook", "env": "HOOK_URL"}
    st = StreamStore(tmp_path / "stream-main.duckdb", "main")
    channels = resolve_channels(cfg, {"HOOK_URL": srv.url + "/hook/x"})
    sender, relay = Relay(st.cursor, channels), Relay(st.cursor, channels)
    got: list[tuple[int, list]] = []

    def on_alerts(n: int, claimed: list) -> None:
        got.append((n, [r["alert_key"] for r in claimed]))
        assert sender.deliver(claimed).sent == len(claimed)

    def keys(status: str) -> set[str]:
        with st.cursor() as cur:
            return {k for (k,) in cur.execute("SELECT alert_key FROM live.alert_outbox WHERE status = ?",
                                              [status]).fetchall()}

    try:
        first, second = _batches()[:2]
        with sender.holding():
            n = st.commit(_step(first), cfg, day=DAY, on_alerts=on_alerts, claim=sender.claim_in)
        assert n > 0 and len(got) == 1 and got[0][0] == n and len(got[0][1]) == n
        assert keys("sent") == set(got[0][1])
        st.commit(_step(second), cfg, day=DAY)  # enqueued, not claimed: the writer died before sending
        left = keys("pending")
        assert left
        with sender.holding():
            for batch in (first, second):  # recovery scores both again
                st.commit(_step(batch), cfg, day=DAY, on_alerts=on_alerts, claim=sender.claim_in)
        assert got[1:] == [(0, []), (0, [])] and keys("pending") == left
        assert relay.drain(max_seconds=5).sent == len(left)
        assert keys("sent") == set(got[0][1]) | left
        with st.cursor() as cur:
            hooked = sorted(k for (k,) in cur.execute("SELECT alert_key FROM live.alert_outbox "
                                                      "WHERE channel = 'file'").fetchall())
        assert hooked and sorted(h.body["alert_key"] for h in srv.hits) == hooked  # each once
    finally:
        sender.close()
        relay.close()
        st.close()
        srv.stop()
