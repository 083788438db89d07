"""Routing and channel resolution: clear errors at start naming channel and variable, never
the value; undeclared default routes fall back to the console/file sink."""

from __future__ import annotations

from pathlib import Path

import pytest
from alert_helpers import alerts_cfg

from primeflow_lib.alerts.routing import (
    AlertConfigError,
    resolve_channels,
    route_channel,
)
from primeflow_lib.config import ConfigError, load_config

TOKEN = "123456789:AAHsecretTOKENvalue_0123456789"
HOOK = "https://discord.com/api/webhooks/111/SECRETwebhookTOKEN0123456789"


def test_default_routing_goes_to_the_sink_when_nothing_is_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_ALERTS_FILE", str(tmp_path / "a.jsonl"))
    ch = resolve_channels(alerts_cfg())
    assert ch.route("SCALP") == "telegram_scalps"
    assert ch.route("SWING") == "telegram_swings"
    assert ch.route("DAY_TRADE") == "telegram_main"
    assert ch.route("anything") == "telegram_main"
    for kind in ("SCALP", "SWING", "DAY_TRADE"):
        c = ch.for_kind(kind)
        assert c.type == "sink" and c.path == Path(tmp_path / "a.jsonl") and not c.declared


def test_declared_channels_resolve_from_the_environment_only():
    cfg = alerts_cfg(
        {
            "telegram_scalps": {"type": "telegram", "env": "T_TOKEN", "chat_id_env": "T_CHAT"},
            "desk": {"type": "discord", "env": "D_URL", "max_per_minute": 10},
        },
        {"SCALP": "telegram_scalps", "default": "desk"},
    )
    ch = resolve_channels(cfg, {"T_TOKEN": TOKEN, "T_CHAT": "-100200300", "D_URL": HOOK})
    tg = ch.for_kind("SCALP")
    assert tg.type == "telegram" and tg.secret.reveal() == TOKEN and tg.is_group
    assert tg.api_base == "https://api.telegram.org"
    assert ch.for_kind("SWING").name == "desk" and ch.for_kind("SWING").max_per_minute == 10
    # the secret never shows in repr/str
    assert TOKEN not in repr(ch) and TOKEN not in str(tg) and HOOK not in repr(ch)


def test_telegram_base_url_override():
    cfg = alerts_cfg({"telegram_main": {"type": "telegram", "env": "T", "chat_id_env": "C"}})
    ch = resolve_channels(
        cfg, {"T": TOKEN, "C": "42", "PRIMEFLOW_TELEGRAM_API_URL": "http://127.0.0.1:9/"}
    )
    assert ch.get("telegram_main").api_base == "http://127.0.0.1:9"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_or_empty_variable_names_channel_and_variable(value):
    cfg = alerts_cfg(
        {"telegram_main": {"type": "telegram", "env": "PF_TG_TOKEN", "chat_id_env": "PF_TG_CHAT"}}
    )
    env = {"PF_TG_CHAT": "42"}
    if value is not None:
        env["PF_TG_TOKEN"] = value
    with pytest.raises(AlertConfigError) as exc:
        resolve_channels(cfg, env)
    msg = str(exc.value)
    assert "telegram_main" in msg and "PF_TG_TOKEN" in msg and "not set or empty" in msg


def test_all_problems_reported_at_once_without_values():
    cfg = alerts_cfg(
        {
            "a": {"type": "slack", "env": "A_URL"},
            "b": {"type": "discord", "env": "B_URL"},
            "c": {"type": "telegram", "env": "C_TOKEN", "chat_id_env": "C_CHAT"},
            "d": {"type": "pigeon", "env": "D"},
        },
        {"default": "a"},
    )
    env = {
        "B_URL": "not-a-url-" + "S3CRET" * 3,
        "C_TOKEN": "https://api.telegram.org/bot" + TOKEN,
        "C_CHAT": "42",
    }
    with pytest.raises(AlertConfigError) as exc:
        resolve_channels(cfg, env)
    msg = str(exc.value)
    assert "'a'" in msg and "A_URL" in msg
    assert "'b'" in msg and "B_URL" in msg and "not an http(s) URL" in msg
    assert "'c'" in msg and "C_TOKEN" in msg and "bot token" in msg
    assert "'d'" in msg and "pigeon" in msg
    assert "S3CRET" not in msg and TOKEN not in msg


def test_unknown_channel_type_from_a_config_file(tmp_path):
    f = tmp_path / "config.yaml"
    f.write_text("alerts:\n  channels:\n    desk: {type: carrier_pigeon, env: X}\n")
    with pytest.raises(ConfigError, match=r"desk.*carrier_pigeon"):
        load_config(f, with_api_keys=False)


def test_route_to_an_undeclared_custom_channel_is_an_error():
    cfg = alerts_cfg({"desk": {"type": "console"}}, {"SWING": "dsek", "default": "desk"})
    with pytest.raises(AlertConfigError, match=r"SWING -> 'dsek'.*declared: desk"):
        resolve_channels(cfg, {})


def test_unknown_kind_in_routing_is_an_error():
    with pytest.raises(AlertConfigError, match="unknown signal kind 'SCLAP'"):
        resolve_channels(alerts_cfg(routing={"SCLAP": "telegram_main"}), {})


def test_route_channel_without_default_entry():
    cfg = alerts_cfg(routing={"SCALP": "console"})
    assert route_channel(cfg, "SCALP") == "console"
    assert route_channel(cfg, "SWING") == "telegram_main"


def test_telegram_needs_chat_id_variable():
    cfg = alerts_cfg({"telegram_main": {"type": "telegram", "env": "T"}})
    with pytest.raises(AlertConfigError, match="chat_id_env"):
        resolve_channels(cfg, {"T": TOKEN})
    cfg = alerts_cfg({"telegram_main": {"type": "telegram", "env": "T", "chat_id_env": "C"}})
    with pytest.raises(AlertConfigError, match=r"telegram_main.*\bC\b.*not set"):
        resolve_channels(cfg, {"T": TOKEN})
