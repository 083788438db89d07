"""The relay against real HTTP servers on 127.0.0.1: request shapes, Retry-After handling,
backoff on 5xx and timeouts, permanent failures, multi-part messages."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qs, urlsplit

import pytest
from alert_helpers import FakeClock, Reply, alerts_cfg, make_signal

from primeflow_lib.alerts import RetryPolicy
from primeflow_lib.alerts.senders import Sender

TOKEN = "123456789:AAHsecretTOKENvalue_0123456789"
TG_OK = {"ok": True, "result": {"message_id": 1}}


def channel_setup(kind: str, server) -> tuple[dict, dict]:
    """(cfg, env) routing every signal to one channel of type ``kind`` served by ``server``."""
    if kind == "telegram":
        ch = {"type": "telegram", "env": "TG_TOKEN", "chat_id_env": "TG_CHAT"}
        env = {"TG_TOKEN": TOKEN, "TG_CHAT": "-100200300", "PRIMEFLOW_TELEGRAM_API_URL": server.url}
    elif kind == "discord":
        ch = {"type": "discord", "env": "DC_URL"}
        env = {"DC_URL": server.url + "/api/webhooks/111/DISCORDsecretTOKEN0123456789"}
    elif kind == "slack":
        ch = {"type": "slack", "env": "SLACK_URL"}
        env = {"SLACK_URL": server.url + "/services/T000/B000/SLACKsecretTOKEN0123456789"}
    else:
        ch = {"type": "webhook", "env": "HOOK_URL"}
        env = {"HOOK_URL": server.url + "/hook/WEBHOOKsecretTOKEN0123456789"}
    return alerts_cfg({"dest": ch}, {"default": "dest"}), env


def only_row(outbox_db) -> dict:
    rows = outbox_db.rows()
    assert len(rows) == 1
    return rows[0]


# ------------------------------------------------------------------------------ request shapes


def test_telegram_request_shape(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(200, TG_OK)])
    cfg, env = channel_setup("telegram", srv)
    outbox_db.enqueue([make_signal(1, ticker="<b>X</b>")], cfg)
    assert relay_factory(cfg, env).drain(max_seconds=5).sent == 1
    (hit,) = srv.hits
    assert hit.path == f"/bot{TOKEN}/sendMessage"
    assert hit.body["chat_id"] == "-100200300" and hit.body["parse_mode"] == "HTML"
    assert hit.body["disable_web_page_preview"] is True
    assert "&lt;b&gt;X&lt;/b&gt;" in hit.body["text"]
    row = only_row(outbox_db)
    assert row["status"] == "sent" and row["sent_at"] is not None and row["last_status"] == 200


def test_discord_request_shape(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(200, {"id": "1"})])
    cfg, env = channel_setup("discord", srv)
    outbox_db.enqueue([make_signal(1, tags=("@everyone",))], cfg)
    relay_factory(cfg, env).drain(max_seconds=5)
    (hit,) = srv.hits
    assert parse_qs(urlsplit(hit.path).query) == {"wait": ["true"]}
    assert hit.body["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in hit.body["content"]


def test_slack_and_webhook_request_shapes(server_factory, outbox_db, relay_factory):
    slack = server_factory([Reply(200, "ok")])
    hook = server_factory([Reply(204, "")])
    cfg_s, env_s = channel_setup("slack", slack)
    cfg_h, env_h = channel_setup("webhook", hook)
    cfg = alerts_cfg(
        {"s": cfg_s["alerts"]["channels"]["dest"], "h": cfg_h["alerts"]["channels"]["dest"]},
        {"SCALP": "s", "default": "h"},
    )
    outbox_db.enqueue(
        [make_signal(1, kind="SCALP"), make_signal(2, kind="SWING", vendor="synthetic")], cfg
    )
    report = relay_factory(cfg, {**env_s, **env_h}).drain(max_seconds=5)
    assert report.sent == 2
    assert set(slack.hits[0].body) == {"text"} and "SCALP" in slack.hits[0].body["text"]
    body = hook.hits[0].body
    assert body["alert_key"] and body["kind"] == "SWING" and body["synthetic"] is True
    assert (
        body["signal"]["signal_id"] == make_signal(2).signal_id
        and body["signal"]["premium"] == 1_234_000.0
    )
    assert body["text"].startswith("[SYNTHETIC DATA]") and body["parts"] == 1


# ------------------------------------------------------------------------------ 429 handling


@pytest.mark.slow
def test_429_retry_after_2_then_200(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(429, {"ok": False}, {"Retry-After": "2"}), Reply(200, "ok")])
    cfg, env = channel_setup("slack", srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    report = relay_factory(cfg, env).drain(max_seconds=10)
    assert len(srv.hits) == 2
    gap = srv.hits[1].t - srv.hits[0].t
    assert 2.0 <= gap <= 3.0, gap
    assert report.sent == 1 and report.rate_limited == 1
    assert only_row(outbox_db)["status"] == "sent"


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,reply,expected_wait",
    [
        (
            "telegram",
            Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 172800",
                    "parameters": {"retry_after": 172800},
                },
            ),
            1.0,
        ),
        (
            "discord",
            Reply(
                429, {"message": "You are being rate limited.", "retry_after": 0.6, "global": False}
            ),
            0.6,
        ),
        ("discord", Reply(429, {"retry_after": 172800.5}, {"Retry-After": "172800"}), 1.0),
    ],
    ids=["telegram-body-absurd", "discord-body-float", "discord-header-absurd"],
)
def test_server_waits_are_honoured_and_capped(
    server_factory, outbox_db, relay_factory, kind, reply, expected_wait
):
    srv = server_factory([reply, Reply(200, TG_OK)])
    cfg, env = channel_setup(kind, srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    relay = relay_factory(cfg, env, policy=RetryPolicy(retry_after_cap_s=1.0))
    # a short drain returns at once: the alert is re-queued, nothing blocks for 2 days
    first = relay.drain(max_seconds=0.2)
    assert first.elapsed_s < 1.0 and first.rate_limited == 1 and first.sent == 0
    row = only_row(outbox_db)
    assert row["status"] == "pending" and row["last_status"] == 429 and "429" in row["last_error"]
    assert first.pending == 1 and first.next_attempt_in_s <= 1.0
    second = relay.drain(max_seconds=5)
    assert second.sent == 1 and len(srv.hits) == 2
    gap = srv.hits[1].t - srv.hits[0].t
    assert expected_wait <= gap <= expected_wait + 0.8, gap
    assert second.elapsed_s <= 1.0 + 0.8


# ------------------------------------------------------------------------------ 5xx and timeouts


@pytest.mark.slow
def test_500_three_times_then_200_with_jittered_backoff(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(500, "boom")] * 3 + [Reply(200, "ok")])
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    policy = RetryPolicy(backoff_base_s=0.2, jitter=0.5, max_attempts=6)
    report = relay_factory(cfg, env, policy=policy, rng=random.Random(3)).drain(max_seconds=10)
    assert report.sent == 1 and report.retried == 3 and len(srv.hits) == 4
    gaps = [b - a for a, b in zip(srv.times(), srv.times()[1:], strict=False)]
    waits = [
        r["wait_s"]
        for r in outbox_db.rows(
            "SELECT wait_s FROM live.alert_deliveries WHERE outcome = 'transient' ORDER BY attempt"
        )
    ]
    for k, (gap, wait) in enumerate(zip(gaps, waits, strict=True)):
        lo, hi = policy.backoff_bounds(k + 1)
        assert lo <= wait <= hi, (k, wait)
        assert wait - 0.01 <= gap <= wait + 0.5, (k, gap, wait)
    # jittered: not simply the deterministic doubling
    assert any(abs(w - policy.backoff_bounds(k + 1)[1]) > 1e-3 for k, w in enumerate(waits))
    row = only_row(outbox_db)
    assert row["status"] == "sent" and row["attempts"] == 4


def test_transient_failures_are_bounded(server_factory, outbox_db, relay_factory, notices):
    srv = server_factory([Reply(503, "down")])
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    policy = RetryPolicy(backoff_base_s=0.02, max_attempts=3)
    report = relay_factory(cfg, env, policy=policy).drain(max_seconds=10)
    assert len(srv.hits) == 3 and report.failed_permanent == 1
    row = only_row(outbox_db)
    assert row["status"] == "failed_permanent" and "gave up after 3 attempts" in row["last_error"]
    assert len(notices()) == 1


@pytest.mark.slow
def test_response_slower_than_read_timeout_is_retried(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(200, "late", delay=1.5), Reply(200, "ok")])
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    relay = relay_factory(cfg, env, timeout=(1.0, 0.3), policy=RetryPolicy(backoff_base_s=0.1))
    report = relay.drain(max_seconds=10)
    assert report.sent == 1 and len(srv.hits) == 2
    first = outbox_db.rows(
        "SELECT outcome, http_status, error FROM live.alert_deliveries ORDER BY attempt"
    )[0]
    assert (
        first["outcome"] == "transient"
        and first["http_status"] is None
        and "timeout" in first["error"].lower()
    )


def test_dead_port_is_a_transient_failure(outbox_db, relay_factory):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    cfg = alerts_cfg({"dest": {"type": "webhook", "env": "H"}}, {"default": "dest"})
    outbox_db.enqueue([make_signal(1)], cfg)
    relay = relay_factory(
        cfg, {"H": f"http://127.0.0.1:{port}/x"}, policy=RetryPolicy(backoff_base_s=5)
    )
    report = relay.drain(max_seconds=0.5)
    assert report.retried == 1 and report.pending == 1
    assert "connection error" in only_row(outbox_db)["last_error"]


# ------------------------------------------------------------------------------ permanent failures


@pytest.mark.parametrize(
    "kind,reply",
    [
        (
            "telegram",
            Reply(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
            ),
        ),
        ("telegram", Reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})),
        ("discord", Reply(404, {"message": "Unknown Webhook", "code": 10015})),
        ("slack", Reply(403, "action_prohibited")),
        ("webhook", Reply(410, "gone")),
    ],
    ids=["tg-400", "tg-401", "discord-404", "slack-403", "webhook-410"],
)
def test_revoked_or_rejected_is_one_attempt_and_one_notice(
    server_factory, outbox_db, relay_factory, notices, kind, reply
):
    srv = server_factory([reply])
    cfg, env = channel_setup(kind, srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    relay = relay_factory(cfg, env)
    report = relay.drain(max_seconds=5)
    relay.drain(max_seconds=1)  # nothing more happens: no retry storm
    assert len(srv.hits) == 1
    assert report.failed_permanent == 1 and report.sent == 0
    row = only_row(outbox_db)
    assert row["status"] == "failed_permanent" and row["last_status"] == reply.status
    assert len(notices()) == 1
    assert "OPERATOR NOTICE" in notices()[0].getMessage()


def test_revoked_webhook_stops_the_channel_but_not_the_others(
    server_factory, outbox_db, relay_factory, notices
):
    dead = server_factory([Reply(403, {"message": "Invalid Webhook Token", "code": 50027})])
    live = server_factory([Reply(200, "ok")])
    cfg_d, env_d = channel_setup("discord", dead)
    cfg_w, env_w = channel_setup("webhook", live)
    cfg = alerts_cfg(
        {"dc": cfg_d["alerts"]["channels"]["dest"], "ok": cfg_w["alerts"]["channels"]["dest"]},
        {"SCALP": "ok", "default": "dc"},
    )
    sigs = [make_signal(i, kind="SWING") for i in range(5)] + [
        make_signal(10 + i, kind="SCALP") for i in range(3)
    ]
    outbox_db.enqueue(sigs, cfg)
    relay = relay_factory(cfg, {**env_d, **env_w})
    report = relay.drain(max_seconds=10)
    assert len(dead.hits) == 1 and len(live.hits) == 3
    assert report.disabled_channels == ["dc"] and report.failed_permanent == 1 and report.sent == 3
    counts = {
        r["status"]: r["n"]
        for r in outbox_db.rows(
            "SELECT status, count(*) AS n FROM live.alert_outbox WHERE channel = 'dc' GROUP BY status"
        )
    }
    assert counts == {"failed_permanent": 1, "pending": 4}  # kept for after the fix
    assert len(notices()) == 1


# ------------------------------------------------------------------------------ pacing from headers


def test_discord_rate_limit_headers_pace_the_next_message(server_factory, outbox_db, relay_factory):
    clock = FakeClock()
    srv = server_factory(
        [Reply(200, {"id": "1"}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5"})],
        clock=clock,
    )
    cfg, env = channel_setup("discord", srv)
    outbox_db.enqueue([make_signal(i) for i in range(3)], cfg)
    report = relay_factory(cfg, env, clock=clock).drain(max_seconds=30)
    assert report.sent == 3
    t = srv.fake_times()
    assert all(b - a >= 1.5 for a, b in zip(t, t[1:], strict=False)), t


# ------------------------------------------------------------------------------ multi-part


def _long_signal(i: int = 1):
    ctx = {f"note_{k:03d}": "lorem ipsum dolor sit amet " * 3 for k in range(150)}
    return make_signal(i, kind="SWING", context={**make_signal().context, **ctx})


def _texts(srv) -> list[str]:
    return [h.body["text"] for h in srv.hits]


def test_long_message_is_split_and_resumes_after_a_failed_part(
    server_factory, outbox_db, relay_factory
):
    srv = server_factory(
        [Reply(200, TG_OK), Reply(500, {"ok": False, "description": "oops"}), Reply(200, TG_OK)]
    )
    cfg, env = channel_setup("telegram", srv)
    clock = FakeClock()
    outbox_db.enqueue([_long_signal()], cfg)
    relay = relay_factory(cfg, env, clock=clock, policy=RetryPolicy(backoff_base_s=0.1))
    report = relay.drain(max_seconds=60)
    text = only_row(outbox_db)["message_text"]
    sent = _texts(srv)
    assert len(text) > 4096 and report.sent == 1
    assert sent[1] == sent[2]  # the failed part is sent again, the first one is not
    parts = [sent[0], *sent[2:]]
    assert "".join(parts) == text and all(len(p) <= 4096 for p in parts)
    row = only_row(outbox_db)
    assert row["parts_total"] == len(parts) == row["parts_sent"]


class _Crash(BaseException):
    """Stands in for the process dying (not an Exception, so nothing catches it)."""


def test_multipart_resumes_from_next_unsent_part_after_a_crash(
    server_factory, outbox_db, relay_factory
):
    srv = server_factory([Reply(200, TG_OK)])
    cfg, env = channel_setup("telegram", srv)
    clock = FakeClock()
    outbox_db.enqueue([_long_signal()], cfg)
    relay = relay_factory(cfg, env, clock=clock)
    sender: Sender = relay._sender("dest")
    real_send = sender.send

    def crash_after_second_post(msg, part, index, total):
        out = real_send(msg, part, index, total)
        if index == 1:
            raise _Crash  # POST done, mark never written
        return out

    sender.send = crash_after_second_post  # type: ignore[method-assign]
    with pytest.raises(_Crash):
        relay.drain(max_seconds=60)
    assert only_row(outbox_db)["status"] == "sending" and only_row(outbox_db)["parts_sent"] == 1
    # a new relay (same process, the old one is gone) re-queues and resumes at part 1
    fresh = relay_factory(cfg, env, clock=clock)
    report = fresh.drain(max_seconds=60)
    assert report.recovered == 1 and report.sent == 1
    sent = _texts(srv)
    text = only_row(outbox_db)["message_text"]
    assert sent[1] == sent[2]  # exactly one duplicate: the part in flight at the crash
    assert "".join([sent[0], *sent[2:]]) == text
    assert len(sent) - len(set(sent)) == 1


def test_deliveries_log(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(500, "x"), Reply(200, "ok")])
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(1)], cfg)
    relay_factory(cfg, env, policy=RetryPolicy(backoff_base_s=0.01)).drain(max_seconds=5)
    rows = outbox_db.rows(
        "SELECT attempt, outcome, http_status, relay_id FROM live.alert_deliveries ORDER BY attempt"
    )
    assert [(r["attempt"], r["outcome"], r["http_status"]) for r in rows] == [
        (1, "transient", 500),
        (2, "ok", 200),
    ]
    assert json.dumps(rows, default=str).count("|") >= 6  # relay ids are host|pid|start|id


def test_429_pauses_the_destination_without_blocking_the_relay(
    server_factory, outbox_db, relay_factory
):
    srv = server_factory(
        [Reply(429, {"error": "slow down"}, {"Retry-After": "30"}), Reply(200, "ok")]
    )
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(i) for i in range(5)], cfg)
    report = relay_factory(cfg, env).drain(max_seconds=1.0)
    assert report.elapsed_s < 2.0  # did not sleep 30 s
    assert len(srv.hits) == 1 and report.rate_limited == 1 and report.pending == 5
    rows = outbox_db.rows()
    assert {r["status"] for r in rows} == {"pending"}
    # the rows claimed in the same batch were given back unattempted
    assert sorted(r["attempts"] for r in rows) == [0, 0, 0, 0, 1]
    assert report.next_attempt_in_s > 25


# ------------------------------------------------------------------------------ drain without recovery


def test_a_drain_without_recovery_leaves_another_relays_claim_and_a_later_one_takes_it(
    server_factory, outbox_db, relay_factory
):
    """``drain(recover=False)`` (the streaming writer's drains between recoveries) sends what is
    pending and leaves a row another relay left in 'sending'; the next drain that recovers sends
    it. Nothing pending at the end reads 0 pending without a second look."""
    srv = server_factory([Reply(200, {}), Reply(200, {}), Reply(200, {})])
    cfg, env = channel_setup("webhook", srv)
    outbox_db.enqueue([make_signal(1), make_signal(2)], cfg)
    dead = "somehost|999999|0|dead"  # another host: only its lease can release it
    with outbox_db.connect() as con:
        key = con.execute("SELECT alert_key FROM live.alert_outbox ORDER BY alert_key LIMIT 1").fetchone()[0]
        con.execute("UPDATE live.alert_outbox SET status = 'sending', claimed_by = ?, "
                    "claimed_at = now()::TIMESTAMP - INTERVAL 1 HOUR WHERE alert_key = ?", [dead, key])
    relay = relay_factory(cfg, env, lease_s=60.0)
    rep = relay.drain(max_seconds=5, recover=False)
    assert (rep.sent, rep.recovered, rep.pending, rep.next_attempt_in_s) == (1, 0, 0, None)
    assert outbox_db.rows("SELECT status FROM live.alert_outbox WHERE alert_key = ?", [key])[0]["status"] == "sending"
    rep = relay.drain(max_seconds=5)
    assert (rep.sent, rep.recovered, rep.pending) == (1, 1, 0)
    assert {r["status"] for r in outbox_db.rows()} == {"sent"}
    assert len(srv.hits) == 2
