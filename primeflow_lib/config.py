"""Configuration: ``config.yaml`` (YAML first, JSON accepted) validated against the defaults.

The packaged ``default_config.yaml`` declares every key with its default; a user file only
overrides. Validation is strict: an unknown key, a value of the wrong type or an unreadable file
raises :class:`ConfigError` naming the key and the file. API keys are read from the environment
only and are injected under ``config["api_keys"]`` as :class:`Secret` values whose ``repr`` and
``str`` never show the key.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_NAME = "config.yaml"
STRATEGY_MODES = ("scalp", "day_trade", "swing")

# Maps whose keys are the user's to choose (ticker names, channel names, signal kinds);
# their values are validated by the rules below instead of against defaults.
_OPEN_MAPS = {"tickers.overrides", "alerts.channels", "alerts.routing", "conditions.maps",
              "conditions.vendor_maps", "sessions.products", "desk.sectors"}
CHANNEL_TYPES = ("telegram", "discord", "slack", "webhook", "console", "file")
_CHANNEL_KEYS = {"type": str, "env": str, "chat_id_env": str, "path": str, "max_per_minute": int}

# Environment variables holding API keys, in order of preference per vendor.
API_KEY_ENV = {
    "massive": ("POLYGON_MASSIVE_KEY", "POLYGON_API_KEY", "MASSIVE_API_KEY"),
    "alpha_vantage": ("ALPHAVANTAGE_API_KEY",),
    "databento": ("DATABENTO_API_KEY",),
}


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""


class Secret(str):
    """A string that never shows itself in ``repr``/``str``/f-strings. Use :meth:`reveal`."""

    def __new__(cls, value: str) -> Secret:
        obj = super().__new__(cls, "***")
        obj._value = value  # type: ignore[attr-defined]
        return obj

    def reveal(self) -> str:
        """The real value, for building a request header. Never log the result."""
        return self._value  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return "Secret('***')"

    def __reduce__(self):  # pickling must not carry the secret either
        return (Secret, ("***",))


def load_api_keys(environ: Mapping[str, str] | None = None) -> dict[str, Secret]:
    """API keys from the environment: ``{"massive": Secret, "alpha_vantage": Secret}`` for the
    vendors whose variable is set (``POLYGON_MASSIVE_KEY``, else legacy ``POLYGON_API_KEY`` /
    ``MASSIVE_API_KEY``; ``ALPHAVANTAGE_API_KEY``). Empty values count as unset."""
    env = os.environ if environ is None else environ
    keys: dict[str, Secret] = {}
    for vendor, names in API_KEY_ENV.items():
        for name in names:
            val = (env.get(name) or "").strip()
            if val:
                keys[vendor] = Secret(val)
                break
    return keys


def default_config() -> dict[str, Any]:
    """The packaged defaults (a fresh copy)."""
    text = resources.files("primeflow_lib").joinpath("default_config.yaml").read_text()
    return yaml.safe_load(text)


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as yaml_exc:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(f"{source}: not valid YAML or JSON: {yaml_exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _check_value(key: str, default: Any, value: Any, source: str) -> Any:
    if default is None:
        if value is None or isinstance(value, str):
            return value
        raise ConfigError(f"{source}: key {key!r} must be a string or null, got {value!r} ({_type_name(value)})")
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"{source}: key {key!r} must be {_type_name(default)}, got {value!r} ({_type_name(value)})"
        )
    return value


def _merge(defaults: dict, user: Mapping, source: str, prefix: str = "") -> dict:
    out = copy.deepcopy(defaults)
    for k, v in user.items():
        key = f"{prefix}{k}"
        if not isinstance(k, str):
            raise ConfigError(f"{source}: key {key!r} must be a string")
        if key in _OPEN_MAPS:
            validated = _validate_open_map(key, v, source)
            keep = key in ("conditions.maps", "conditions.vendor_maps", "sessions.products")
            out[k] = {**defaults[k], **validated} if keep else validated
            continue
        if k not in defaults:
            allowed = ", ".join(sorted(defaults))
            raise ConfigError(f"{source}: unknown key {key!r} (allowed here: {allowed})")
        d = defaults[k]
        if isinstance(d, dict):
            if not isinstance(v, Mapping):
                raise ConfigError(f"{source}: key {key!r} must be a mapping, got {v!r} ({_type_name(v)})")
            out[k] = _merge(d, v, source, key + ".")
        else:
            out[k] = _check_value(key, d, v, source)
    return out


def _validate_open_map(key: str, value: Any, source: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: key {key!r} must be a mapping, got {value!r}")
    defaults = default_config()
    out: dict[str, Any] = {}
    for name, body in value.items():
        sub = f"{key}.{name}"
        if key == "tickers.overrides":
            if not isinstance(body, Mapping):
                raise ConfigError(f"{source}: key {sub!r} must be a mapping of strategy sections")
            per: dict[str, Any] = {}
            for section, vals in body.items():
                if section not in (*STRATEGY_MODES, "paper"):
                    raise ConfigError(
                        f"{source}: unknown key {sub}.{section!r} (allowed: {', '.join((*STRATEGY_MODES, 'paper'))})"
                    )
                if not isinstance(vals, Mapping):
                    raise ConfigError(f"{source}: key '{sub}.{section}' must be a mapping")
                merged = _merge(defaults[section], vals, source, f"{sub}.{section}.")
                per[section] = {k: merged[k] for k in vals}
            out[str(name).upper()] = per
        elif key == "alerts.channels":
            if not isinstance(body, Mapping):
                raise ConfigError(f"{source}: key {sub!r} must be a mapping like {{type: telegram, env: VAR}}")
            for ck, cv in body.items():
                if ck not in _CHANNEL_KEYS:
                    raise ConfigError(f"{source}: unknown key '{sub}.{ck}' (allowed: {', '.join(_CHANNEL_KEYS)})")
                if not isinstance(cv, _CHANNEL_KEYS[ck]) or isinstance(cv, bool):
                    raise ConfigError(f"{source}: key '{sub}.{ck}' must be {_CHANNEL_KEYS[ck].__name__}, got {cv!r}")
            ctype = body.get("type")
            if ctype not in CHANNEL_TYPES:
                raise ConfigError(f"{source}: key '{sub}.type' must be one of {', '.join(CHANNEL_TYPES)}, got {ctype!r}")
            if ctype in ("telegram", "discord", "slack", "webhook") and not body.get("env"):
                raise ConfigError(
                    f"{source}: channel {name!r} of type {ctype} needs 'env': the environment variable "
                    "that holds its URL or token (secrets never go in config files)"
                )
            out[str(name)] = dict(body)
        elif key == "desk.sectors":
            if not isinstance(body, list) or not all(isinstance(t, str) and t.strip() for t in body):
                raise ConfigError(f"{source}: key {sub!r} must be a list of tickers, got {body!r}")
            out[str(name)] = [t.strip().upper() for t in body]
        elif key == "conditions.maps":
            # a user map adds to (or replaces codes of) the packaged map of the same name
            if not isinstance(body, Mapping):
                raise ConfigError(f"{source}: key {sub!r} must be a mapping of code -> [meanings]")
            merged_map = dict(defaults["conditions"]["maps"].get(str(name), {}))
            for code, meanings in body.items():
                if isinstance(meanings, str):
                    meanings = [meanings]
                if not isinstance(meanings, list) or not all(isinstance(m, str) for m in meanings):
                    raise ConfigError(f"{source}: key '{sub}.{code}' must be a list of meanings")
                merged_map[str(code)] = meanings
            out[str(name)] = merged_map
        elif key == "sessions.products":
            if not isinstance(body, Mapping) or set(body) - {"open", "close"} or not all(
                isinstance(v, str) for v in body.values()
            ):
                raise ConfigError(f"{source}: key {sub!r} must be a mapping {{open: 'HH:MM', close: 'HH:MM'}}")
            out[str(name).upper()] = {**defaults["sessions"]["default"], **body}
        else:  # alerts.routing, conditions.vendor_maps
            if not isinstance(body, str):
                raise ConfigError(f"{source}: key {sub!r} must be a channel name (string), got {body!r}")
            out[str(name)] = body
    return out


def resolve_config_path(path: str | os.PathLike | None = None) -> tuple[Path | None, bool]:
    """Which file to read, and whether the user asked for it explicitly.

    Order: ``path``; ``PRIMEFLOW_CONFIG``; ``./config.yaml``. An explicit path that does not exist
    is an error; a missing ``./config.yaml`` means "defaults only"."""
    if path is not None:
        return Path(path), True
    env = os.environ.get("PRIMEFLOW_CONFIG")
    if env:
        return Path(env), True
    p = Path(DEFAULT_CONFIG_NAME)
    return (p if p.exists() else None), False


def load_config(path: str | os.PathLike | None = None, *, with_api_keys: bool = True) -> dict[str, Any]:
    """Load and validate the configuration.

    Args:
        path: a YAML or JSON file; default ``PRIMEFLOW_CONFIG`` or ``./config.yaml``
            (the packaged defaults when neither exists).
        with_api_keys: inject ``config["api_keys"]`` from the environment (see :func:`load_api_keys`).

    Returns:
        The defaults deep-merged with the file, plus ``config["source"]`` (the file read, or
        ``"<defaults>"``).

    Raises:
        ConfigError: missing or unreadable file, bad YAML/JSON, unknown key, wrong type. The
            message names the file and the dotted key.
    """
    cfg_path, explicit = resolve_config_path(path)
    defaults = default_config()
    if cfg_path is None:
        cfg, source = defaults, "<defaults>"
    else:
        source = str(cfg_path)
        if not cfg_path.exists():
            how = "given" if path is not None else "named by PRIMEFLOW_CONFIG"
            raise ConfigError(f"{source}: config file not found (the path was {how})")
        if cfg_path.is_dir():
            raise ConfigError(f"{source}: is a directory, not a config file")
        try:
            text = cfg_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read config file: {exc}") from None
        cfg = _merge(defaults, _parse(text, source), source)
    _check_cross_rules(cfg, source)
    _check_plausibility(cfg, source)
    cfg["source"] = source
    if with_api_keys:
        cfg["api_keys"] = load_api_keys()
    return cfg


def _check_cross_rules(cfg: dict, source: str) -> None:
    if cfg["universe"]["size"] < 1 or cfg["universe"]["size"] > 500:
        raise ConfigError(f"{source}: key 'universe.size' must be between 1 and 500, got {cfg['universe']['size']}")
    if cfg["universe"]["size"] > cfg["synthetic"]["pool_size"]:
        raise ConfigError(
            f"{source}: key 'universe.size' ({cfg['universe']['size']}) exceeds 'synthetic.pool_size' "
            f"({cfg['synthetic']['pool_size']})"
        )
    if cfg["demo"]["sessions"] < 1:
        raise ConfigError(f"{source}: key 'demo.sessions' must be >= 1")
    for mode in STRATEGY_MODES:
        for k, v in cfg[mode].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise ConfigError(f"{source}: key '{mode}.{k}' must be >= 0, got {v}")


def get_ticker_config(cfg: Mapping[str, Any], ticker: str, mode: str) -> dict[str, Any]:
    """The ``mode`` section (``scalp``, ``day_trade``, ``swing`` or ``paper``) with the ticker's
    overrides from ``tickers.overrides.<TICKER>.<mode>`` applied on top."""
    if mode not in (*STRATEGY_MODES, "paper"):
        raise ConfigError(f"unknown strategy mode {mode!r} (expected one of {', '.join(STRATEGY_MODES)}, paper)")
    base = copy.deepcopy(cfg[mode])
    over = cfg.get("tickers", {}).get("overrides", {}).get(ticker.upper(), {}).get(mode, {})
    if mode == "paper":
        for key, vals in over.items():
            if isinstance(vals, Mapping):  # a per-kind section (scalp, day_trade, swing)
                base.setdefault(key, {}).update(vals)
            else:  # a scalar such as risk_free_rate
                base[key] = vals
    else:
        base.update(over)
    return base


def _check_plausibility(cfg: dict, source: str) -> None:
    """Thresholds of the ``plausibility`` block must be positive (0 would quarantine every print)."""
    for k, v in cfg["plausibility"].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0 and k != "price_margin_usd" \
                and k != "nbbo_band_usd":
            raise ConfigError(f"{source}: key 'plausibility.{k}' must be > 0, got {v}")
        if k.endswith("_usd") and v < 0:
            raise ConfigError(f"{source}: key 'plausibility.{k}' must be >= 0, got {v}")

