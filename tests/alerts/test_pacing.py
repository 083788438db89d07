"""Pacing per destination: Telegram <= 1/s per chat and <= 20 per rolling 60 s per group,
Slack <= 1/s, state kept across relay calls. Timing is checked on a fake clock (fast) and once
in real time."""

from __future__ import annotations

import pytest
from alert_helpers import FakeClock, Reply, alerts_cfg, make_signal

from primeflow_lib.alerts.pacing import Pacer, Rule, rules_for
from primeflow_lib.alerts.routing import Channel

TOKEN = "123456789:AAHsecretTOKENvalue_0123456789"
TG_OK = {"ok": True, "result": {"message_id": 1}}


def _tg(server, chat: str) -> tuple[dict, dict]:
    cfg = alerts_cfg(
        {"grp": {"type": "telegram", "env": "TG_TOKEN", "chat_id_env": "TG_CHAT"}},
        {"default": "grp"},
    )
    return cfg, {"TG_TOKEN": TOKEN, "TG_CHAT": chat, "PRIMEFLOW_TELEGRAM_API_URL": server.url}


def _max_in_window(times: list[float], window: float) -> int:
    """Most sends inside any closed window of ``window`` seconds."""
    best = 0
    for i, t in enumerate(times):
        best = max(best, sum(1 for u in times[i:] if u - t <= window))
    return best


def test_burst_of_50_to_a_telegram_group_respects_20_per_minute(
    server_factory, outbox_db, relay_factory
):
    clock = FakeClock()
    srv = server_factory([Reply(200, TG_OK)], clock=clock)
    cfg, env = _tg(srv, "-1001234567890")
    outbox_db.enqueue([make_signal(i) for i in range(50)], cfg)
    relay = relay_factory(cfg, env, clock=clock)
    report = relay.drain(max_seconds=600)
    assert report.sent == 50 and len(srv.hits) == 50 and report.rate_limited == 0
    t = srv.fake_times()
    assert _max_in_window(t, 60.0) <= 20
    assert min(b - a for a, b in zip(t, t[1:], strict=False)) >= 1.0  # 1/s per chat
    # and it is not slower than it must be: 50 messages need just over two full windows
    assert t[-1] - t[0] < 2 * 60 + 15


def test_group_limit_holds_across_relay_calls(server_factory, outbox_db, relay_factory):
    """Each Dagster step makes a new relay: pacing state must outlive one relay."""
    clock = FakeClock()
    pacer = Pacer(clock=clock.time)
    srv = server_factory([Reply(200, TG_OK)], clock=clock)
    cfg, env = _tg(srv, "-100555")
    for batch in range(5):  # 5 batches of 10, each drained by a new relay sharing the pacer
        outbox_db.enqueue([make_signal(100 * batch + i) for i in range(10)], cfg)
        relay_factory(cfg, env, clock=clock, pacer=pacer).drain(max_seconds=600)
    t = srv.fake_times()
    assert len(t) == 50 and _max_in_window(t, 60.0) <= 20


def test_slack_is_paced_to_one_per_second(server_factory, outbox_db, relay_factory):
    clock = FakeClock()
    srv = server_factory([Reply(200, "ok")], clock=clock)
    cfg = alerts_cfg({"s": {"type": "slack", "env": "S"}}, {"default": "s"})
    outbox_db.enqueue([make_signal(i) for i in range(12)], cfg)
    relay_factory(cfg, {"S": srv.url + "/services/T/B/SLACKsecret0123456789"}, clock=clock).drain(
        max_seconds=60
    )
    t = srv.fake_times()
    assert len(t) == 12 and min(b - a for a, b in zip(t, t[1:], strict=False)) >= 1.0


def test_paced_channel_does_not_hold_back_others(server_factory, outbox_db, relay_factory):
    clock = FakeClock()
    tg = server_factory([Reply(200, TG_OK)], clock=clock)
    hook = server_factory([Reply(200, "ok")], clock=clock)
    cfg_tg, env = _tg(tg, "-100777")
    cfg = alerts_cfg(
        {"grp": cfg_tg["alerts"]["channels"]["grp"], "h": {"type": "webhook", "env": "H"}},
        {"SCALP": "grp", "default": "h"},
    )
    sigs = [make_signal(i, kind="SCALP") for i in range(10)] + [
        make_signal(50 + i, kind="SWING") for i in range(10)
    ]
    outbox_db.enqueue(sigs, cfg)
    relay_factory(cfg, {**env, "H": hook.url + "/x/WEBHOOKsecret0123"}, clock=clock).drain(
        max_seconds=120
    )
    start = min(tg.fake_times())
    assert max(hook.fake_times()) - start < 1.0  # the webhook alerts did not wait for Telegram
    assert len(tg.hits) == 10


@pytest.mark.slow
def test_one_per_second_per_chat_in_real_time(server_factory, outbox_db, relay_factory):
    srv = server_factory([Reply(200, TG_OK)])
    cfg, env = _tg(srv, "424242")  # a private chat: 1/s, no group window
    outbox_db.enqueue([make_signal(i) for i in range(3)], cfg)
    relay_factory(cfg, env).drain(max_seconds=10)
    t = srv.times()
    assert len(t) == 3
    assert all(b - a >= 0.99 for a, b in zip(t, t[1:], strict=False)), t


def test_pacer_rules_unit():
    clock = FakeClock(1000.0)
    p = Pacer(clock=clock.time, margin=0.0)
    win = [Rule("k", window=10.0, max_in_window=3)]
    for _ in range(3):
        assert p.wait_time(win) == 0.0
        p.record(win)
        clock.sleep(1.0)
    assert p.wait_time(win) == pytest.approx(7.0)  # first send at 1000 leaves the window at 1010
    p.block("dest", 30.0)
    assert p.wait_time(win, ["dest"]) == pytest.approx(30.0)


def test_rules_per_destination_kind():
    tg_group = Channel("a", "telegram", chat_id="-100", secret=None)
    tg_private = Channel("b", "telegram", chat_id="42", secret=None)
    slack = Channel("c", "slack")
    hook = Channel("d", "webhook")
    capped = Channel("e", "webhook", max_per_minute=6)
    assert any(r.max_in_window == 20 and r.window == 60 for r in rules_for(tg_group))
    assert not any(r.max_in_window == 20 for r in rules_for(tg_private))
    assert any(r.min_interval == 1.0 for r in rules_for(tg_private))
    assert [r.min_interval for r in rules_for(slack)] == [1.0]
    assert rules_for(hook) == ()
    assert [(r.window, r.max_in_window) for r in rules_for(capped)] == [(60.0, 6)]


def test_relays_share_the_process_pacer_by_default(outbox_db):
    from primeflow_lib.alerts import Relay, resolve_channels
    from primeflow_lib.alerts.pacing import SHARED_PACER

    channels = resolve_channels(alerts_cfg(), {})
    a, b = Relay(outbox_db.connect, channels), Relay(outbox_db.connect, channels)
    assert a.pacer is SHARED_PACER and b.pacer is SHARED_PACER
    a.close()
    b.close()
