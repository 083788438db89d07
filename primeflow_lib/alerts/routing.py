"""Routing signals to channels, and resolving each channel's secret from the environment.

Config (``alerts`` section, see ``default_config.yaml``)::

    alerts:
      routing: {SCALP: telegram_scalps, SWING: telegram_swings, default: telegram_main}
      channels:
        telegram_main: {type: telegram, env: PF_TG_TOKEN, chat_id_env: PF_TG_CHAT}
        desk_discord:  {type: discord, env: PF_DISCORD_URL}
        ops_slack:     {type: slack, env: PF_SLACK_URL, max_per_minute: 30}
        audit:         {type: webhook, env: PF_AUDIT_URL}
        local:         {type: file, path: var/alerts.jsonl}

A signal goes to ``routing[kind]``, else ``routing["default"]``, else ``telegram_main``.

A route to a channel that is not declared under ``channels`` goes to the **sink** (console +
JSONL file ``PRIMEFLOW_ALERTS_FILE``, default ``var/alerts.jsonl``) when the name is one of the
packaged route names (``telegram_main``, ``telegram_scalps``, ``telegram_swings``) or
``console`` / ``file``: that is how ``make demo`` runs with nothing configured. Any other
undeclared name is taken for a typo and is an error, as is a routing key that is not a signal
kind (or ``default``).

Secrets come only from the environment variable a channel names in ``env`` (the bot token for
Telegram, the full webhook URL for Discord, Slack and generic webhooks), plus ``chat_id_env`` for
Telegram's chat id. :func:`resolve_channels` reads them once, at start, and reports every problem
in one :class:`AlertConfigError` naming the channel and the variable, never the value.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from primeflow_lib.config import CHANNEL_TYPES, ConfigError, Secret
from primeflow_lib.models import SIGNAL_KINDS
from primeflow_lib.redact import install_log_redaction, register_secret

SINK_TYPE = "sink"
"""Type of the fallback destination: console + JSONL file."""

ALERTS_FILE_ENV = "PRIMEFLOW_ALERTS_FILE"
DEFAULT_ALERTS_FILE = "var/alerts.jsonl"
TELEGRAM_API_ENV = "PRIMEFLOW_TELEGRAM_API_URL"
DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_ROUTE = "telegram_main"

#: undeclared channel names that fall back to the sink instead of being an error
DEFAULTABLE_CHANNELS = frozenset(
    {"telegram_main", "telegram_scalps", "telegram_swings", "console", "file", "replay"}
)
#: routing keys besides the signal kinds
ROUTING_EXTRA_KEYS = ("default", "HEARTBEAT")

_HTTP_TYPES = ("telegram", "discord", "slack", "webhook")
_BOT_TOKEN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{10,}$")
_CHAT_ID = re.compile(r"^(-?\d{1,20}|@[A-Za-z0-9_]{4,64})$")


class AlertConfigError(ConfigError):
    """The alerts configuration cannot work; the message names the channel and the variable."""


@dataclass(frozen=True)
class Channel:
    """A resolved destination.

    Attributes:
        name: the channel name from config (what the outbox stores).
        type: ``telegram``, ``discord``, ``slack``, ``webhook``, ``console``, ``file`` or
            ``sink`` (console + file fallback for an undeclared route).
        secret: bot token (Telegram) or webhook URL, as a :class:`~primeflow_lib.config.Secret`
            whose ``str``/``repr`` show ``***``; None for console/file/sink.
        chat_id: Telegram chat id (negative for groups and channels) or ``@channel``.
        path: JSONL file for ``file`` and ``sink``.
        max_per_minute: extra client-side limit from config, or None.
        api_base: Telegram API base URL (``PRIMEFLOW_TELEGRAM_API_URL`` for tests).
        env: the variable the secret came from (safe to show).
        declared: False for the sink standing in for an undeclared route.
    """

    name: str
    type: str
    secret: Secret | None = field(default=None, repr=False)
    chat_id: str | None = None
    path: Path | None = None
    max_per_minute: int | None = None
    api_base: str | None = None
    env: str | None = None
    declared: bool = True

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the destination (secret + chat id): a safe key for pacing
        state and logs that tells two destinations apart without revealing either."""
        raw = (self.secret.reveal() if self.secret is not None else "") + "|" + (self.chat_id or "")
        raw += "|" + self.type + "|" + (str(self.path) if self.path else "")
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    @property
    def is_group(self) -> bool:
        """Telegram groups, supergroups and channels have negative ids (or ``@name``)."""
        return bool(self.chat_id) and (self.chat_id.startswith("-") or self.chat_id.startswith("@"))


@dataclass(frozen=True)
class Channels:
    """The resolved channels and the routing table; look-ups never raise for a known route."""

    channels: Mapping[str, Channel]
    routing: Mapping[str, str]
    heartbeat_channel: str | None = None
    sink_path: Path = Path(DEFAULT_ALERTS_FILE)

    def route(self, kind: str) -> str:
        """Channel name for a signal kind (see :func:`route_channel`)."""
        return _route(self.routing, kind)

    def for_kind(self, kind: str) -> Channel:
        """The channel a signal of ``kind`` goes to."""
        return self.get(self.route(kind))

    def get(self, name: str) -> Channel:
        """The channel called ``name``; an unknown name (e.g. a row enqueued under an older
        config) gets the sink, so its alert is still shown rather than stuck."""
        ch = self.channels.get(name)
        if ch is None:
            ch = Channel(name=name, type=SINK_TYPE, path=self.sink_path, declared=False)
        return ch


def _alerts_cfg(cfg: Mapping[str, Any]) -> Mapping[str, Any]:
    a = cfg.get("alerts", cfg) if isinstance(cfg, Mapping) else {}
    return a if isinstance(a, Mapping) else {}


def _route(routing: Mapping[str, str], kind: str) -> str:
    kind = str(kind).upper()
    return routing.get(kind) or routing.get("default") or DEFAULT_ROUTE


def route_channel(cfg: Mapping[str, Any], kind: str) -> str:
    """Channel name for signals of ``kind``: ``alerts.routing[kind]``, else
    ``alerts.routing.default``, else ``telegram_main``."""
    return _route(_alerts_cfg(cfg).get("routing") or {}, kind)


def channel_type(cfg: Mapping[str, Any], name: str) -> str:
    """The declared type of channel ``name``, or ``sink`` when it is not declared."""
    body = (_alerts_cfg(cfg).get("channels") or {}).get(name)
    return str(body.get("type")) if isinstance(body, Mapping) else SINK_TYPE


def sink_path(environ: Mapping[str, str] | None = None) -> Path:
    """The JSONL file of the sink: ``PRIMEFLOW_ALERTS_FILE`` or ``var/alerts.jsonl``."""
    env = os.environ if environ is None else environ
    return Path((env.get(ALERTS_FILE_ENV) or "").strip() or DEFAULT_ALERTS_FILE)


def check_routing(cfg: Mapping[str, Any]) -> list[str]:
    """Problems in ``alerts.routing``, ``alerts.heartbeat_channel`` and the channel types
    (no environment needed; used by :func:`~primeflow_lib.alerts.outbox.enqueue_alerts`)."""
    a = _alerts_cfg(cfg)
    routing = a.get("routing") or {}
    channels = a.get("channels") or {}
    problems: list[str] = []
    for name, body in channels.items():
        ctype = body.get("type") if isinstance(body, Mapping) else None
        if ctype not in CHANNEL_TYPES:
            problems.append(
                f"channel {name!r}: unknown type {ctype!r} (expected one of {', '.join(CHANNEL_TYPES)})"
            )
    for kind, target in routing.items():
        if kind not in SIGNAL_KINDS and kind not in ROUTING_EXTRA_KEYS:
            problems.append(
                f"alerts.routing: unknown signal kind {kind!r} "
                f"(expected one of {', '.join((*SIGNAL_KINDS, *ROUTING_EXTRA_KEYS))})"
            )
        if target not in channels and target not in DEFAULTABLE_CHANNELS:
            problems.append(
                f"alerts.routing.{kind} -> {target!r}: no channel of that name is declared under "
                f"alerts.channels (declared: {', '.join(sorted(channels)) or 'none'}; only "
                f"{', '.join(sorted(DEFAULTABLE_CHANNELS))} fall back to the console/file sink)"
            )
    hb = a.get("heartbeat_channel")
    if hb and hb not in channels and hb not in DEFAULTABLE_CHANNELS:
        problems.append(f"alerts.heartbeat_channel -> {hb!r}: no channel of that name is declared")
    return problems


def resolve_channels(cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Channels:
    """Resolve every configured channel from the environment, once, at start.

    Args:
        cfg: the loaded config (or just its ``alerts`` section).
        environ: where the variables are read; default ``os.environ``.
    Returns:
        :class:`Channels` with a :class:`Channel` per declared channel plus a sink for each
        undeclared defaultable route. Secrets are registered for redaction and the log filter
        is installed (:mod:`primeflow_lib.redact`).
    Raises:
        AlertConfigError: listing every problem: unknown type, a route to an undeclared
            non-defaultable channel, an unset or empty variable, a value of the wrong shape.
            Each names the channel and the variable, never the value.
    """
    env = os.environ if environ is None else environ
    a = _alerts_cfg(cfg)
    routing = {str(k): str(v) for k, v in (a.get("routing") or {}).items()}
    declared = a.get("channels") or {}
    problems = check_routing(cfg)
    sink = sink_path(env)
    api_base = (env.get(TELEGRAM_API_ENV) or "").strip().rstrip("/") or DEFAULT_TELEGRAM_API
    out: dict[str, Channel] = {}
    for name, body in declared.items():
        if not isinstance(body, Mapping):
            problems.append(
                f"channel {name!r}: must be a mapping like {{type: telegram, env: VAR}}"
            )
            continue
        ctype = body.get("type")
        if ctype not in CHANNEL_TYPES:
            continue  # reported by check_routing
        mpm = body.get("max_per_minute")
        if mpm is not None and (not isinstance(mpm, int) or isinstance(mpm, bool) or mpm < 1):
            problems.append(f"channel {name!r}: max_per_minute must be a positive integer")
            mpm = None
        secret: Secret | None = None
        chat_id: str | None = None
        var = body.get("env")
        if ctype in _HTTP_TYPES:
            if not var:
                problems.append(
                    f"channel {name!r} ({ctype}): 'env' must name the environment variable "
                    "holding its " + ("bot token" if ctype == "telegram" else "webhook URL")
                )
                continue
            value = (env.get(var) or "").strip()
            if not value:
                problems.append(
                    f"channel {name!r} ({ctype}): environment variable {var} is not set or empty"
                )
                continue
            if ctype == "telegram":
                if not _BOT_TOKEN.match(value):
                    problems.append(
                        f"channel {name!r} (telegram): {var} does not look like a bot token "
                        "(expected digits:letters as given by @BotFather, not a URL)"
                    )
                    continue
                cvar = body.get("chat_id_env")
                if not cvar:
                    problems.append(
                        f"channel {name!r} (telegram): 'chat_id_env' must name the environment "
                        "variable holding the chat id"
                    )
                    continue
                chat_id = (env.get(cvar) or "").strip()
                if not chat_id:
                    problems.append(
                        f"channel {name!r} (telegram): environment variable {cvar} is not set or empty"
                    )
                    continue
                if not _CHAT_ID.match(chat_id):
                    problems.append(
                        f"channel {name!r} (telegram): {cvar} is not a chat id "
                        "(an integer, negative for groups, or @channelname)"
                    )
                    continue
            elif not re.match(r"^https?://[^/\s]+", value):
                problems.append(f"channel {name!r} ({ctype}): {var} is not an http(s) URL")
                continue
            secret = Secret(value)
        path = None
        if ctype == "file":
            path = Path(body["path"]) if body.get("path") else sink
        out[str(name)] = Channel(
            name=str(name),
            type=str(ctype),
            secret=secret,
            chat_id=chat_id,
            path=path,
            max_per_minute=mpm,
            api_base=api_base if ctype == "telegram" else None,
            env=var,
        )
    if problems:
        raise AlertConfigError(
            "alerts configuration: "
            + "; ".join(problems)
            + ". Secrets are read only from the environment variables named by 'env' / 'chat_id_env'."
        )
    # Redaction must know the values before any request is made or logged.
    install_log_redaction()
    for ch in out.values():
        if ch.secret is not None:
            register_secret(ch.secret.reveal())
    targets = set(routing.values()) | {DEFAULT_ROUTE}
    if a.get("heartbeat_channel"):
        targets.add(str(a["heartbeat_channel"]))
    for target in targets:
        if target not in out:
            out[target] = Channel(name=target, type=SINK_TYPE, path=sink, declared=False)
    return Channels(
        channels=out,
        routing=routing,
        heartbeat_channel=a.get("heartbeat_channel"),
        sink_path=sink,
    )
