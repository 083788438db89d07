"""Alert formats: required fields, synthetic marker, escaping per channel markup, heartbeat."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from alert_helpers import make_signal

from primeflow_lib.alerts.formatting import (
    FORMAT_VERSION,
    SYNTHETIC_MARKER,
    choose_alert_mode,
    escape,
    format_alert,
    format_deep_dive,
    format_heartbeat,
    format_medium,
    format_short,
    human_money,
)

FORMATS = [format_short, format_medium, format_deep_dive]
MARKUPS = ["html", "discord", "slack", "plain"]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.__name__)
def test_every_format_has_the_required_fields(fmt):
    s = make_signal(7)
    text = fmt(s, "plain")
    for needle in [
        "SPY",  # ticker
        "SPY 2025-03-21 580C",  # contract
        "ASK",  # side
        "$1.2M",  # premium, human
        "1,200",  # size
        "sweep, above_ask",  # tags
        "0.82",  # strength
        "+0.42%",  # VWAP distance
        "2.1x",  # RVOL
        "UP",  # trend
        "BULL_LOW_VOL",  # regime
        "premium_min, dte_max, rvol_min",  # rules triggered
        s.short_id,  # short alert id
    ]:
        assert needle in text, f"{fmt.__name__} lacks {needle!r}:\n{text}"
    assert SYNTHETIC_MARKER not in text  # vendor is massive


def test_short_is_one_line_and_deep_dive_has_failed_rules_and_full_id():
    s = make_signal(1)
    assert "\n" not in format_short(s)
    assert format_medium(s).count("\n") >= 3
    deep = format_deep_dive(s)
    assert "otm_max" in deep and s.signal_id in deep and f"v{FORMAT_VERSION}" in deep


@pytest.mark.parametrize("markup", MARKUPS)
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.__name__)
def test_synthetic_alerts_say_so(fmt, markup):
    text = fmt(make_signal(2, vendor="synthetic"), markup)
    assert text.startswith("[SYNTHETIC DATA]") or text.startswith("\\[SYNTHETIC DATA\\]")


def test_choose_mode_by_kind():
    assert choose_alert_mode(make_signal(kind="SCALP")) == "short"
    assert choose_alert_mode(make_signal(kind="DAY_TRADE")) == "medium"
    assert choose_alert_mode(make_signal(kind="SWING")) == "deep_dive"
    assert choose_alert_mode(make_signal(kind="SOMETHING_NEW")) == "medium"
    mode, text = format_alert(make_signal(kind="SWING"), "telegram")
    assert mode == "deep_dive" and "<b>" in text


HOSTILE = make_signal(
    3,
    ticker="<b>PWN</b>",
    tags=("@everyone", "a&b", "*bold*", "<!here>", "x`y|z>q_~"),
    rules_passed=("@here look",),
    side="ASK\x1b[2J",
)


def test_telegram_html_escapes_markup_in_data():
    text = format_medium(HOSTILE, "html")
    assert "<b>PWN</b>" not in text
    assert "&lt;b&gt;PWN&lt;/b&gt;" in text
    assert "a&amp;b" in text and "&lt;!here&gt;" in text
    assert "\x1b" not in text
    # what Telegram shows after parsing equals the raw data
    visible = html.unescape(
        text.replace("<b>", "").replace("</b>", "").replace("<code>", "").replace("</code>", "")
    )
    assert "<b>PWN</b>" in visible
    # only our own tags remain
    import re

    assert set(re.findall(r"</?([a-z]+)>", text)) <= {"b", "code"}


def test_discord_markdown_escapes_and_breaks_mentions():
    text = format_medium(HOSTILE, "discord")
    assert "@everyone" not in text and "@here" not in text
    assert "@\u200beveryone" in text and "@\u200bhere" in text
    assert "\\*bold\\*" in text
    for ch in "`|>_~":
        assert f"\\{ch}" in text
    assert "\x1b" not in text


def test_slack_escapes_control_sequences():
    text = format_medium(HOSTILE, "slack")
    assert "<!here>" not in text and "&lt;!here&gt;" in text
    assert "<b>" not in text and "a&amp;b" in text


def test_plain_keeps_text_but_strips_terminal_controls():
    text = format_short(HOSTILE, "plain")
    assert "<b>PWN</b>" in text and "@everyone" in text
    assert "\x1b" not in text


def test_escape_rejects_unknown_markup():
    with pytest.raises(ValueError, match="unknown markup"):
        escape("x", "bbcode")


def test_missing_context_shows_na_not_an_error():
    s = make_signal(4, context={}, spot=None, tags=(), rules_passed=())
    text = format_medium(s)
    assert "VWAP n/a" in text and "RVOL n/a" in text and "Tags: none" in text


@pytest.mark.parametrize(
    "value,expected",
    [
        (950, "$950"),
        (12_500, "$12.5K"),
        (250_000, "$250K"),
        (999_960, "$1M"),
        (1_234_000, "$1.2M"),
        (3e9, "$3B"),
        (float("nan"), "n/a"),
        (None, "n/a"),
    ],
)
def test_human_money(value, expected):
    assert human_money(value) == expected


def test_heartbeat_line():
    line = format_heartbeat(
        {
            "ts": dt.datetime(2025, 3, 3, 14, 5),
            "events_per_minute": 123.44,
            "signals_by_kind": {"SCALP": 3, "DAY_TRADE": 1},
            "open_positions": 4,
            "lag_seconds": 2.14,
            "last_error": "POST https://api.telegram.org/bot123456:AAAAAAAAAAAAAAAAAAAA/sendMessage failed",
        }
    )
    assert "\n" not in line
    for needle in [
        "14:05:00",
        "events/min 123.4",
        "SCALP 3",
        "DAY_TRADE 1",
        "SWING 0",
        "open positions 4",
        "lag 2.1s",
        "last error:",
    ]:
        assert needle in line
    assert "AAAAAAAAAAAAAAAAAAAA" not in line
    assert "last error: none" in format_heartbeat({})
