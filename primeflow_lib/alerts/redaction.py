"""Keeping webhook URLs and bot tokens out of logs, exceptions, tables and return values.

* :func:`redact` masks every *known* secret (registered with :func:`register_secret` when
  channels are resolved, or passed in) and the well-known shapes even when never registered:
  ``/bot<token>/``, ``hooks.slack.com/services/...``, ``discord.com/api/webhooks/...``,
  ``apikey=...`` (and ``api_key``, ``token``, ``key``, ``access_token`` ...), ``Authorization``
  headers, ``Bearer`` tokens.
* A secret *URL* is registered with its pieces (:func:`secret_pieces`): urllib3 logs only the
  request path (``"POST /hook/abc123SECRET HTTP/1.1" 500``), so masking the full URL alone would
  not hide a generic webhook's token.
* :func:`install_log_redaction` filters the loggers that print request URLs (urllib3 at DEBUG)
  and the alert modules' own loggers, so a DEBUG configuration cannot leak a secret.

Same signature as ``primeflow_lib.vendors.redact.redact``. This module does not import it on
purpose: importing anything under ``primeflow_lib.vendors`` runs the package ``__init__``, which
imports pandas, and the relay (a small process restarted after crashes) must start fast. Merging
the two (e.g. moving the vendor module out of the ``vendors`` package) is a follow-up.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "***"
#: shorter values are never replaced literally (they would mangle every message)
MIN_SECRET_LENGTH = 4
# Pieces of a secret URL shorter than this are not registered on their own: "services" or
# "hook" must stay readable, while the random part of a webhook path is always longer.
_MIN_PIECE = 12

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(/bot)\d{3,}:[A-Za-z0-9_-]+"), r"\1" + MASK),
    (
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>)]+", re.I),
        r"\1" + MASK,
    ),
    (
        re.compile(r"(discord(?:app)?\.com/api/(?:v\d+/)?webhooks/)[^\s\"'<>?)]+", re.I),
        r"\1" + MASK,
    ),
    (
        re.compile(
            r"((?:proxy-)?authorization|x-api-key|api-key)([\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token|bot)\s+)?[^\s\"',;}]+",
            re.I,
        ),
        r"\1\2" + MASK,
    ),
    (re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1" + MASK),
    (
        re.compile(
            r"(\b(?:api[_-]?key|apikey|access[_-]?token|token|secret|password|key|sig|signature)=)"
            r"[^&\s\"'#<>]+",
            re.I,
        ),
        r"\1" + MASK,
    ),
)

_lock = threading.Lock()
_registered: set[str] = set()


def secret_pieces(value: str) -> set[str]:
    """The strings under which ``value`` may appear in a log line or an exception.

    For a URL: the URL, the URL without its scheme, its path + query (what urllib3 logs), and
    every path segment, query value or password of at least 12 characters (the token part).
    For anything else: the value itself.
    """
    value = (value or "").strip()
    if len(value) < MIN_SECRET_LENGTH:
        return set()
    pieces = {value}
    try:
        parts = urlsplit(value)
    except ValueError:
        return pieces
    if parts.scheme and parts.netloc:
        pieces.add(value.split("://", 1)[1])
        path_q = parts.path + (f"?{parts.query}" if parts.query else "")
        if len(path_q) >= _MIN_PIECE:
            pieces.add(path_q)
        pieces.update(seg for seg in parts.path.split("/") if len(seg) >= _MIN_PIECE)
        pieces.update(v for _, v in parse_qsl(parts.query) if len(v) >= _MIN_PIECE)
        if parts.password and len(parts.password) >= MIN_SECRET_LENGTH:
            pieces.add(parts.password)
    return pieces


def _variants(value: str) -> set[str]:
    # a value may appear URL-encoded in a request line (quote) or a form body (quote_plus)
    return {value, quote(value, safe=""), quote_plus(value, safe="")}


def register_secret(value: str | None) -> None:
    """Remember ``value`` and its URL pieces for every later :func:`redact` and log record."""
    pieces = set()
    for p in secret_pieces(value or ""):
        pieces |= _variants(p)
    with _lock:
        _registered.update(pieces)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret masked as ``***``.

    Args:
        text: any message (exception text, log line, HTTP body excerpt); a non-string is
            converted with ``str`` first.
        secrets: extra secret values (their URL pieces are masked too), on top of the
            registered ones.
    Returns:
        The redacted text.
    """
    if not isinstance(text, str):
        text = str(text)
    with _lock:
        known = set(_registered)
    for s in secrets:
        for p in secret_pieces(str(s)):
            known |= _variants(p)
    # longest first, so a URL is masked whole before its own segments are looked for
    for s in sorted(known, key=len, reverse=True):
        if s and s in text:
            text = text.replace(s, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class AlertRedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) redacted, before any handler sees it.

    A filter attached to a logger only sees records created on that very logger, so it is
    installed on each logger known to print URLs, not on a parent."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API name
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            msg = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(msg), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: loggers that print request URLs (urllib3 at DEBUG) or alert errors
LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "primeflow_lib.alerts",
    "primeflow_lib.alerts.relay",
    "primeflow_lib.alerts.senders",
    "primeflow_lib.alerts.routing",
    "primeflow_lib.alerts.outbox",
)
_FILTER = AlertRedactingFilter()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach the redacting filter to :data:`LOGGERS` and ``extra_loggers`` (idempotent)."""
    for name in (*LOGGERS, *extra_loggers):
        lg = logging.getLogger(name)
        if not any(isinstance(f, AlertRedactingFilter) for f in lg.filters):
            lg.addFilter(_FILTER)


__all__ = [
    "MASK",
    "AlertRedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
    "secret_pieces",
]
