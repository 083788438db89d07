"""No secret in logs, stdout/stderr, tables, reports or exception text, with DEBUG logging,
when webhooks point at a dead port or at a server answering 500."""

from __future__ import annotations

import logging
import socket
import sys

import pytest
import requests
from alert_helpers import Reply, alerts_cfg, make_signal

from primeflow_lib.alerts import RetryPolicy
from primeflow_lib.alerts.routing import AlertConfigError, resolve_channels

TOKEN = "987654321:AAHtopSECRETbotTOKEN_abcdefghij"
SECRETS = {
    "telegram": ("AAHtopSECRETbotTOKEN_abcdefghij",),
    "discord": ("DISCORDtopSECRET_0123456789abcdef",),
    "slack": ("SLACKtopSECRET_0123456789abcdef",),
    "webhook": ("HOOKtopSECRET_0123456789abcdef",),
}


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def _setup(kind: str, base: str) -> tuple[dict, dict, str]:
    """(cfg, env, the full secret value) for one channel of ``kind`` at ``base``."""
    if kind == "telegram":
        ch = {"type": "telegram", "env": "V_SECRET", "chat_id_env": "V_CHAT"}
        env = {"V_SECRET": TOKEN, "V_CHAT": "-1001", "PRIMEFLOW_TELEGRAM_API_URL": base}
        return alerts_cfg({"dest": ch}, {"default": "dest"}), env, TOKEN
    path = {
        "discord": "/api/webhooks/123456/",
        "slack": "/services/T0001/B0001/",
        "webhook": "/hooks/",
    }[kind] + SECRETS[kind][0]
    url = base + path
    return (
        alerts_cfg({"dest": {"type": kind, "env": "V_SECRET"}}, {"default": "dest"}),
        {"V_SECRET": url},
        url,
    )


@pytest.fixture
def debug_logging(caplog, capsys):
    """DEBUG everywhere, records captured, and formatted to stderr as a real deployment would."""
    caplog.set_level(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    yield caplog
    root.removeHandler(handler)


@pytest.mark.parametrize("target", ["dead_port", "http_500"])
@pytest.mark.parametrize("kind", ["telegram", "discord", "slack", "webhook"])
def test_no_secret_anywhere(
    kind, target, server_factory, outbox_db, relay_factory, debug_logging, capsys
):
    base = (
        _dead_url()
        if target == "dead_port"
        else server_factory(
            [Reply(500, {"ok": False, "description": "Internal Server Error", "echo": "x"})]
        ).url
    )
    cfg, env, secret = _setup(kind, base)
    needles = {secret, *SECRETS[kind]}

    # The danger is real: requests puts the URL (with the token) in its exception text.
    if target == "dead_port":
        url = f"{base}/bot{TOKEN}/sendMessage" if kind == "telegram" else secret
        with pytest.raises(requests.RequestException) as raw:
            requests.post(url, json={}, timeout=1)
        assert any(n in str(raw.value) for n in needles)
        debug_logging.clear()

    outbox_db.enqueue([make_signal(1)], cfg)
    relay = relay_factory(cfg, env, policy=RetryPolicy(max_attempts=2, backoff_base_s=0.05))
    report = relay.drain(max_seconds=5)
    assert report.failed_permanent == 1 and report.attempts == 2

    # urllib3 did log the requests at DEBUG (so the check below can fail)
    assert any(r.name.startswith("urllib3") for r in debug_logging.records)
    texts = []
    for r in debug_logging.records:
        texts.append(r.getMessage())
        texts.append(r.exc_text or "")
    out, err = capsys.readouterr()
    texts += [out, err, repr(report), str(report.to_dict())]
    with outbox_db.connect() as con:
        for t in ("live.alert_outbox", "live.alert_deliveries"):
            texts += [str(row) for row in con.execute(f"SELECT * FROM {t}").fetchall()]
    assert err  # the DEBUG handler did write
    for text in texts:
        for n in needles:
            assert n not in text, f"secret leaked in: {text[:300]}"
    # the errors still say what happened
    assert report.errors and all(
        ("connection error" in e) or ("HTTP 500" in e) for e in report.errors
    )


def test_config_errors_never_show_values():
    cfg = alerts_cfg({"dest": {"type": "slack", "env": "V"}}, {"default": "dest"})
    bad = "hxxp://hooks.slack.com/services/T/B/" + SECRETS["slack"][0]
    with pytest.raises(AlertConfigError) as exc:
        resolve_channels(cfg, {"V": bad})
    assert SECRETS["slack"][0] not in str(exc.value) and "V" in str(exc.value)


def test_sender_exception_is_redacted(monkeypatch):
    """A bug inside requests (any exception, not only RequestException) is still redacted."""
    from primeflow_lib.alerts.senders import AlertMessage, make_sender

    cfg, env, secret = _setup("webhook", "http://127.0.0.1:9")
    ch = resolve_channels(cfg, env).get("dest")
    sender = make_sender(ch)

    def boom(*a, **k):
        raise RuntimeError(f"unexpected failure posting to {secret}")

    monkeypatch.setattr(sender.session, "post", boom)
    out = sender.send(AlertMessage("k", "dest", "SCALP", "short", "hi"), "hi", 0, 1)
    assert (
        out.outcome == "transient"
        and secret not in out.error
        and SECRETS["webhook"][0] not in out.error
    )
