"""Redaction of secrets from text: one function used by every vendor, sender, table and log line.

:func:`redact` removes, from any text:

* every secret passed in ``secrets`` and every secret registered with :func:`register_secret`
  (literal value and its URL-encoded forms). A secret *URL* is masked by its pieces as well
  (:func:`secret_pieces`): urllib3 logs only the request path
  (``"POST /hook/abc123SECRET HTTP/1.1" 500``), so masking the full URL alone would not hide a
  generic webhook's token;
* Telegram bot tokens in URL paths (``/bot123456:ABC-def/`` -> ``/bot***/``);
* Slack incoming-webhook paths (``hooks.slack.com/services/T.../B.../x`` -> ``.../services/***``);
* Discord webhook paths (``discord.com/api/webhooks/<id>/<token>`` -> ``.../webhooks/***``);
* key-like query or form parameters (``apikey=...``, ``api_key=``, ``token=``, ``key=``, ...) and
  their JSON form (``"apikey": "..."``);
* ``Authorization`` / ``X-API-Key`` headers however they are printed (``Authorization: Bearer x``,
  ``{'Authorization': 'Bearer x'}``), and any ``Bearer <token>``;
* Alpha Vantage's echo of the key in throttle bodies (``detected your API key as XYZ``).

:class:`RedactingFilter` applies the same function to log records; :func:`install_log_redaction`
attaches it to the loggers that print request URLs (``urllib3`` logs
``"GET /query?...&apikey=KEY"`` at DEBUG) and to the alert modules' own loggers, so a DEBUG
configuration cannot leak a secret.

Standard library only and outside the ``vendors`` package on purpose: the alert relay (a small
process restarted after each crash) imports it and must not pull pandas.

Example::

    >>> redact("GET https://x/query?function=F&apikey=S3CR3T&symbol=IBM")
    'GET https://x/query?function=F&apikey=***&symbol=IBM'
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

MASK = "***"
#: secrets shorter than this are not replaced literally (a 1-2 character "secret" would mangle
#: every message); the pattern rules still apply to them.
MIN_SECRET_LENGTH = 4
# Pieces of a secret URL shorter than this are not masked on their own: "services" or "hook"
# must stay readable, while the random part of a webhook path is always longer.
_MIN_PIECE = 12

_registered: set[str] = set()
_lock = threading.Lock()

# (pattern, replacement) applied in order. Groups keep the non-secret context so the redacted
# text still says *what* was there.
_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Telegram: https://api.telegram.org/bot123456:AA-bb_cc/sendMessage
    (re.compile(r"(/bot)\d{3,}:[A-Za-z0-9_-]+"), r"\1" + MASK),
    # Slack incoming webhooks and workflow triggers
    (
        re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>)]+", re.I),
        r"\1" + MASK,
    ),
    # Discord webhooks: discord.com/api/webhooks/<id>/<token>, also discordapp.com and /api/v10/
    (
        re.compile(r"(discord(?:app)?\.com/api/(?:v\d+/)?webhooks/)[^\s\"'<>?)]+", re.I),
        r"\1" + MASK,
    ),
    # Header-like "Authorization: Bearer x" / "'Authorization': 'Basic x'" / "X-API-Key=x"
    (
        re.compile(
            r"((?:proxy-)?authorization|x-api-key|api-key)([\"']?\s*[:=]\s*[\"']?)"
            r"(?:(bearer|basic|token|bot)\s+)?[^\s\"',;}]+",
            re.I,
        ),
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) + ' ' if m.group(3) else ''}{MASK}",
    ),
    # a bare bearer token anywhere else
    (re.compile(r"(\bbearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1" + MASK),
    # query/form parameters: apikey=..., api_key=..., access_token=..., token=..., key=...
    (
        re.compile(
            r"(\b(?:api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|token|secret|"
            r"password|passwd|key|sig|signature)=)[^&\s\"'#<>]+",
            re.I,
        ),
        r"\1" + MASK,
    ),
    # JSON-ish "apikey": "..." (bodies echoed in errors)
    (
        re.compile(
            r"([\"'](?:api[_-]?key|apikey|access[_-]?token|token|secret|password)[\"']\s*:\s*[\"'])"
            r"[^\"']+",
            re.I,
        ),
        r"\1" + MASK,
    ),
    # Alpha Vantage: "We have detected your API key as ABCD1234 and ..."
    (re.compile(r"(API key as\s+)[^\s,;]+?(?=[\s,;]|\.?$|\.\s)", re.I), r"\1" + MASK),
)


def reveal(secret: object | None) -> str:
    """The real value of a ``config.Secret`` (which hides itself behind ``str``) or a plain
    string; '' for None."""
    if secret is None:
        return ""
    fn = getattr(secret, "reveal", None)
    return fn() if callable(fn) else str(secret)


def secret_pieces(value: object) -> set[str]:
    """The strings under which ``value`` may appear in a log line or an exception.

    For a URL: the URL, the URL without its scheme, its path + query (what urllib3 logs), and
    every path segment, query value or password of at least 12 characters (the token part).
    For anything else: the value itself. ``value`` may be a plain string or a ``config.Secret``;
    None, empty and very short values give no pieces.
    """
    value = reveal(value).strip()
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


@functools.lru_cache(maxsize=256)
def _literals(value: str) -> frozenset[str]:
    """Every piece of ``value`` in each form it may be printed in: as is, URL-encoded in a
    request line (``quote``) or in a form body (``quote_plus``)."""
    out: set[str] = set()
    for p in secret_pieces(value):
        out |= {p, quote(p, safe=""), quote_plus(p, safe="")}
    return frozenset(out)


def register_secret(secret: object) -> None:
    """Remember ``secret`` (and its URL pieces) so every later :func:`redact` call, and every log
    record passing a :class:`RedactingFilter`, removes it even where the caller does not pass it.

    Accepts a plain string or a ``config.Secret``; None, empty and very short values are ignored.
    """
    literals = _literals(reveal(secret))
    with _lock:
        _registered.update(literals)


def redact(text: str, secrets: Iterable[object] = ()) -> str:
    """Return ``text`` with secrets removed (see the module doc for what is removed).

    Args:
        text: any text: an exception message, a URL, a log line, a response body.
        secrets: extra secret values (plain strings or ``config.Secret``; a URL's pieces are
            removed too) on top of the registered ones. None and short values are skipped.

    Returns:
        The text with every secret replaced by ``***``. Non-string input is converted with
        ``str`` first, so ``redact(exc)`` works.
    """
    if not isinstance(text, str):
        text = str(text)
    with _lock:
        literal = set(_registered)
    for s in secrets:
        literal |= _literals(reveal(s))
    # longest first, so a URL (or a key containing another key) is removed whole before its
    # own pieces are looked for
    for v in sorted(literal, key=len, reverse=True):
        if v and v in text:
            text = text.replace(v, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def shorten(text: object, limit: int, secrets: Iterable[object] = ()) -> str:
    """``text`` on one line, **redacted first**, then cut to ``limit`` characters (``...`` when
    cut). Every place that shows a shortened piece of vendor text uses this: cutting first
    could leave part of a key that redaction no longer recognises (a server echoing a
    10-character key in a long message kept 9 of them)."""
    flat = redact(" ".join(str(text).split()), secrets)
    return flat if len(flat) <= limit else flat[:limit] + "..."


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees.

    The record's ``msg`` is replaced by the redacted, fully formatted message and ``args`` is
    cleared, so handlers further down never see the original values. Exception text and stack
    info attached to the record are redacted as well. A filter attached to a logger only sees
    records created on that very logger, so it is installed on each logger known to print URLs,
    not on a parent.

    Args:
        secrets: values to remove on top of the registered ones.
    """

    def __init__(self, secrets: Iterable[object] = ()) -> None:
        super().__init__()
        self._secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API name
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


#: loggers known to print request URLs, headers or exceptions containing them (urllib3 at
#: DEBUG, websockets, yfinance), and the alert modules' own loggers
LOGGERS = (
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
    "requests",
    "websockets.client",
    "websockets.asyncio.client",
    "yfinance",
    "primeflow_lib.alerts",
    "primeflow_lib.alerts.relay",
    "primeflow_lib.alerts.senders",
    "primeflow_lib.alerts.routing",
    "primeflow_lib.alerts.outbox",
)
_FILTER = RedactingFilter()


def install_log_redaction(extra_loggers: Iterable[str] = ()) -> None:
    """Attach one :class:`RedactingFilter` to each of :data:`LOGGERS` and ``extra_loggers``
    (idempotent). Records of other modules are redacted where they are made."""
    for name in (*LOGGERS, *extra_loggers):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)


__all__ = [
    "LOGGERS",
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
    "reveal",
    "secret_pieces",
]
