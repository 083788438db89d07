"""The test webhook receiver: one-write answers, and a request cut short is not a delivery."""

from __future__ import annotations

import socket

import requests

from primeflow_lib.live.stream.receiver import WebhookReceiver


def test_a_complete_post_is_recorded_and_answered_ok():
    with WebhookReceiver() as rx:
        r = requests.post(rx.url, json={"alert_key": "a1", "kind": "SCALP"}, timeout=5)
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert [p.body for p in rx.snapshot()] == [{"alert_key": "a1", "kind": "SCALP"}]
        assert rx.truncated == 0


def test_a_body_shorter_than_its_content_length_is_counted_not_recorded():
    """What a sender killed between its headers and its body leaves behind."""
    with WebhookReceiver() as rx:
        with socket.create_connection(("127.0.0.1", rx.port), timeout=5) as s:
            s.sendall(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"alert_key\":")
            s.shutdown(socket.SHUT_WR)
            answer = s.recv(200)
        assert answer.startswith(b"HTTP/1.1 400")
        assert rx.snapshot() == []
        assert rx.truncated == 1
