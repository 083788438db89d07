"""Redaction of secrets from text: one function used by every vendor, sender and log line.

:func:`redact` removes, from any text:

* every secret passed in ``secrets`` and every secret registered with :func:`register_secret`
  (literal value and its URL-encoded form);
* Telegram bot tokens in URL paths (``/bot123456:ABC-def/`` -> ``/bot***/``);
* Slack incoming-webhook paths (``hooks.slack.com/services/T.../B.../x`` -> ``.../services/***``);
* Discord webhook paths (``discord.com/api/webhooks/<id>/<token>`` -> ``.../webhooks/***``);
* key-like query or form parameters (``apikey=...``, ``api_key=``, ``token=``, ``key=``, ...);
* ``Authorization`` / ``X-API-Key`` headers however they are printed (``Authorization: Bearer x``,
  ``{'Authorization': 'Bearer x'}``), and any ``Bearer <token>``;
* Alpha Vantage's echo of the key in throttle bodies (``detected your API key as XYZ``).

:class:`RedactingFilter` applies the same function to log records; :func:`install_log_redaction`
attaches it to third-party loggers that print request URLs (``urllib3`` logs
``"GET /query?...&apikey=KEY"`` at DEBUG), so a key never reaches a log handler.

Example::

    >>> redact("GET https://x/query?function=F&apikey=S3CR3T&symbol=IBM")
    'GET https://x/query?function=F&apikey=***&symbol=IBM'
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: secrets shorter than this are not replaced literally (a 1-2 character "secret" would mangle
#: every message); the pattern rules still apply to them.
MIN_SECRET_LENGTH = 4

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


def _reveal(secret: object) -> str:
    """The real value of ``secret`` (``config.Secret`` hides itself behind ``str``)."""
    reveal = getattr(secret, "reveal", None)
    return reveal() if callable(reveal) else str(secret)


def register_secret(secret: object) -> None:
    """Remember ``secret`` so every later :func:`redact` call (and every log record passing a
    :class:`RedactingFilter`) removes it, even where the caller does not pass it explicitly.

    Accepts a plain string or a ``config.Secret``; empty and very short values are ignored.
    """
    value = _reveal(secret) if secret is not None else ""
    if len(value) >= MIN_SECRET_LENGTH:
        with _lock:
            _registered.add(value)


def _variants(value: str) -> set[str]:
    # The key may appear URL-encoded in a request line (quote) or form body (quote_plus).
    return {value, quote(value, safe=""), quote_plus(value, safe="")}


def redact(text: str, secrets: Iterable[object] = ()) -> str:
    """Return ``text`` with secrets removed (see the module doc for what is removed).

    Args:
        text: any text: an exception message, a URL, a log line, a response body.
        secrets: extra secret values (plain strings or ``config.Secret``) to remove literally,
            on top of the registered ones.

    Returns:
        The text with every secret replaced by ``***``. Non-string input is converted with
        ``str`` first, so ``redact(exc)`` works.
    """
    if not isinstance(text, str):
        text = str(text)
    with _lock:
        values = set(_registered)
    for s in secrets:
        if s is None:
            continue
        v = _reveal(s)
        if len(v) >= MIN_SECRET_LENGTH:
            values.add(v)
    literal: set[str] = set()
    for v in values:
        literal |= _variants(v)
    # longest first, so a key that contains another key is removed whole
    for v in sorted(literal, key=len, reverse=True):
        if v and v in text:
            text = text.replace(v, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees.

    The record's ``msg`` is replaced by the redacted, fully formatted message and ``args`` is
    cleared, so handlers further down never see the original values. Exception text attached to
    the record is redacted as well.
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
        return True


#: third-party loggers known to print request URLs, headers or exceptions containing them
THIRD_PARTY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
    "requests",
    "websockets.client",
    "websockets.asyncio.client",
    "yfinance",
)


def install_log_redaction(logger_names: Iterable[str] = THIRD_PARTY_LOGGERS) -> None:
    """Attach one :class:`RedactingFilter` to each named logger (idempotent).

    Logger filters only see records created by that exact logger, so each URL-printing logger is
    named explicitly. Records of our own modules are redacted where they are made.
    """
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


__all__ = [
    "MASK",
    "RedactingFilter",
    "install_log_redaction",
    "redact",
    "register_secret",
]
