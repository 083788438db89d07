"""Senders: one POST (or one write) of one message part to one destination.

=========  ==================================================================================
type       request
=========  ==================================================================================
telegram   ``POST {PRIMEFLOW_TELEGRAM_API_URL or https://api.telegram.org}/bot<token>/sendMessage``
           ``{chat_id, text, parse_mode: "HTML", disable_web_page_preview: true}``
discord    ``POST <webhook URL>?wait=true`` ``{content, allowed_mentions: {parse: []}}`` (no
           mention can ping anyone, whatever the text says)
slack      ``POST <incoming webhook URL>`` ``{text}``
webhook    ``POST <URL>`` with the alert as JSON: ``alert_key, channel, kind, mode,
           format_version, synthetic, signal_id, short_id, part, parts, text, signal{...}``
console    the text on stdout and an INFO log record (logger ``primeflow_lib.alerts.senders``)
file       one JSON line appended with a single ``write`` on an ``O_APPEND`` descriptor, so
           concurrent writers never interleave inside a line
sink       console + file (the fallback for undeclared routes)
=========  ==================================================================================

A sender never raises for a delivery problem and never lets a secret out: every ``requests``
exception is caught and turned into a :class:`SendOutcome` whose ``error`` is redacted (the
exception text contains the URL path, e.g. ``/bot123:TOKEN/sendMessage``). Redirects are not
followed (``requests`` would turn a POST into a GET on 302): a 3xx is a permanent failure.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from primeflow_lib.alerts.formatting import markup_for
from primeflow_lib.alerts.pacing import Rule, discord_block_seconds, rules_for
from primeflow_lib.alerts.retry import classify_status, parse_retry_after
from primeflow_lib.alerts.routing import SINK_TYPE, Channel
from primeflow_lib.alerts.splitting import split_for_channel
from primeflow_lib.redact import redact

log = logging.getLogger(__name__)

USER_AGENT = "PrimeFlow-alerts/1"
DEFAULT_TIMEOUT = (3.05, 10.0)
_ERROR_CHARS = 300


@dataclass(frozen=True)
class AlertMessage:
    """What a sender needs from an outbox row."""

    alert_key: str
    channel: str
    kind: str
    mode: str
    text: str
    signal_id: str = ""
    short_id: str = ""
    format_version: int = 0
    is_synthetic: bool = False
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendOutcome:
    """The result of one POST.

    Attributes:
        outcome: ``ok``, ``rate_limited``, ``transient``, ``revoked`` (401/403/404/410: the
            destination is gone) or ``permanent`` (this message will never be accepted).
        status: HTTP status, None when no response arrived.
        retry_after: seconds the server asked to wait (uncapped, as sent), or None.
        pace_block: seconds the destination should rest (Discord headers), or None.
        error: what went wrong, redacted and truncated; None on success.
    """

    outcome: str
    status: int | None = None
    retry_after: float | None = None
    pace_block: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class Sender(abc.ABC):
    """Base class: ``send`` one part; ``parts`` splits a text for this destination."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.markup = markup_for(channel.type)
        self.rules: tuple[Rule, ...] = rules_for(channel)

    def parts(self, text: str) -> list[str]:
        """The text split for this destination (one part when it has no length limit)."""
        return split_for_channel(text, self.channel.type, self.markup)

    @abc.abstractmethod
    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        """Deliver part ``index`` (0-based) of ``total`` of ``msg``; never raises for a
        delivery problem."""

    def close(self) -> None:  # noqa: B027 - optional hook: only HTTP senders hold resources
        """Release resources (HTTP connections)."""


class HttpSender(Sender):
    """Common POST handling: timeouts, error classification, redaction."""

    def __init__(
        self,
        channel: Channel,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(channel)
        self._own_session = session is None
        self.session = session or new_session()
        self.timeout = timeout

    def _secrets(self) -> tuple[object, ...]:
        # redact() masks a secret URL's pieces too (the path urllib3 and requests print)
        return () if self.channel.secret is None else (self.channel.secret,)

    def _post(
        self, url: str, body: Mapping[str, Any]
    ) -> tuple[SendOutcome, Any, Mapping[str, str]]:
        """POST ``body``; returns the outcome, the decoded body and the response headers."""
        try:
            resp = self.session.post(url, json=body, timeout=self.timeout, allow_redirects=False)
        except requests.Timeout as exc:
            return SendOutcome("transient", error=self._err("timeout", exc)), None, {}
        except requests.RequestException as exc:
            return SendOutcome("transient", error=self._err("connection error", exc)), None, {}
        except Exception as exc:  # noqa: BLE001 - any failure is a failed attempt, redacted
            return SendOutcome("transient", error=self._err("unexpected error", exc)), None, {}
        try:
            status = resp.status_code
            try:
                data: Any = resp.json()
            except ValueError:
                data = resp.text
        finally:
            resp.close()
        kind = classify_status(status)
        retry_after = parse_retry_after(resp.headers, data) if status in (429, 503) else None
        error = (
            None
            if kind == "ok"
            else redact(f"HTTP {status}: {_describe(data)}", self._secrets())[:_ERROR_CHARS]
        )
        out = SendOutcome(kind, status=status, retry_after=retry_after, error=error)
        return out, data, resp.headers

    def _err(self, what: str, exc: BaseException) -> str:
        # str(exc) of requests errors includes the URL (with the token or webhook path).
        return redact(f"{what}: {type(exc).__name__}: {exc}", self._secrets())[:_ERROR_CHARS]

    def close(self) -> None:
        if self._own_session:
            self.session.close()


def _describe(data: Any) -> str:
    """The useful part of an error body (Telegram ``description``, Discord ``message``)."""
    if isinstance(data, Mapping):
        for k in ("description", "message", "error"):
            if data.get(k):
                return str(data[k])
        return json.dumps(data)[:_ERROR_CHARS]
    return str(data or "")[:_ERROR_CHARS].strip() or "(empty body)"


class TelegramSender(HttpSender):
    """Telegram Bot API ``sendMessage`` with HTML parse mode."""

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        assert self.channel.secret is not None and self.channel.api_base
        url = f"{self.channel.api_base}/bot{self.channel.secret.reveal()}/sendMessage"
        body = {
            "chat_id": self.channel.chat_id,
            "text": part,
            "parse_mode": "HTML",
            "disable_web_page_preview": True,
        }
        out, data, _ = self._post(url, body)
        if out.ok and isinstance(data, Mapping) and data.get("ok") is False:
            return SendOutcome(
                "permanent",
                status=out.status,
                error=redact(
                    f"HTTP {out.status} with ok=false: {_describe(data)}", self._secrets()
                )[:_ERROR_CHARS],
            )
        return out


class DiscordSender(HttpSender):
    """Discord webhook ``?wait=true`` (so a 200 means the message exists)."""

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        assert self.channel.secret is not None
        url = self.channel.secret.reveal()
        url += ("&" if "?" in url else "?") + "wait=true"
        body = {"content": part, "allowed_mentions": {"parse": []}}
        out, _, headers = self._post(url, body)
        block = discord_block_seconds(headers)
        return dataclasses.replace(out, pace_block=block) if block else out


class SlackSender(HttpSender):
    """Slack incoming webhook ``{text}``."""

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        assert self.channel.secret is not None
        out, _, _ = self._post(self.channel.secret.reveal(), {"text": part})
        return out


class WebhookSender(HttpSender):
    """Generic JSON webhook: the whole alert as JSON."""

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        assert self.channel.secret is not None
        out, _, _ = self._post(self.channel.secret.reveal(), webhook_body(msg, part, index, total))
        return out


def webhook_body(msg: AlertMessage, part: str, index: int, total: int) -> dict[str, Any]:
    """The JSON a generic webhook receives (also the JSONL record of the file sink)."""
    return {
        "alert_key": msg.alert_key,
        "channel": msg.channel,
        "kind": msg.kind,
        "mode": msg.mode,
        "format_version": msg.format_version,
        "synthetic": msg.is_synthetic,
        "signal_id": msg.signal_id,
        "short_id": msg.short_id,
        "part": index,
        "parts": total,
        "text": part,
        "signal": dict(msg.payload),
    }


class ConsoleSender(Sender):
    """Prints the alert on stdout and logs it at INFO."""

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        try:
            print(part, file=sys.stdout, flush=True)
        except (OSError, ValueError) as exc:  # closed stdout: the log record still carries it
            log.warning("alert %s: stdout unavailable: %s", msg.short_id, redact(str(exc)))
        log.info("alert %s -> %s (%s):\n%s", msg.short_id, msg.channel, msg.kind, part)
        return SendOutcome("ok")


class FileSender(Sender):
    """Appends one JSON line per part; the directory is created on first use."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.path = Path(channel.path or "var/alerts.jsonl")

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        rec = webhook_body(msg, part, index, total)
        rec["written_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
        line = (json.dumps(rec, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        try:
            append_line(self.path, line)
        except OSError as exc:
            return SendOutcome("transient", error=redact(f"cannot append to {self.path}: {exc}"))
        return SendOutcome("ok")


def append_line(path: Path, line: bytes) -> None:
    """Append ``line`` with one ``write`` on an ``O_APPEND`` descriptor (atomic per line on a
    local file system); a short write is an error rather than half a line left silently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        n = os.write(fd, line)
        if n != len(line):
            raise OSError(f"short write ({n} of {len(line)} bytes)")
    finally:
        os.close(fd)


class SinkSender(Sender):
    """Console + file: the destination of routes to undeclared channels."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.console = ConsoleSender(channel)
        self.file = FileSender(channel)

    def send(self, msg: AlertMessage, part: str, index: int, total: int) -> SendOutcome:
        out = self.file.send(msg, part, index, total)
        if out.ok:
            self.console.send(msg, part, index, total)
        return out


def new_session() -> requests.Session:
    """A ``requests`` session for alert POSTs (connection reuse, our User-Agent)."""
    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def make_sender(
    channel: Channel,
    *,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
) -> Sender:
    """The sender for ``channel``'s type."""
    http = {
        "telegram": TelegramSender,
        "discord": DiscordSender,
        "slack": SlackSender,
        "webhook": WebhookSender,
    }
    if channel.type in http:
        return http[channel.type](channel, session=session, timeout=timeout)
    if channel.type == "console":
        return ConsoleSender(channel)
    if channel.type == "file":
        return FileSender(channel)
    if channel.type == SINK_TYPE:
        return SinkSender(channel)
    raise ValueError(f"channel {channel.name!r}: unknown type {channel.type!r}")
