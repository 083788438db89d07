"""Alert rules: the kind routing as three built-in rules (same channels as before), validation
with clear errors (unknown key, field, operator, type, channel, a channel whose secret is not
set), and the pure evaluation with cooldowns per ticker and rule, daily caps and the earnings
gate."""

from __future__ import annotations

import datetime as dt

import pytest
from alert_helpers import alerts_cfg, make_signal

from primeflow_lib.alerts.routing import route_channel
from primeflow_lib.alerts.rules import (
    EarningsGate,
    RuleError,
    RuleState,
    all_rules,
    builtin_rules,
    check_rule_secrets,
    evaluate,
    evaluate_rows,
    parse_rule,
)
from primeflow_lib.models import SIGNAL_KINDS


def row(i: int, *, kind: str = "SCALP", ticker: str = "SPY", minute: int = 0, **kw) -> dict:
    base = {"signal_id": f"s{i}", "event_id": f"e{i}", "kind": kind, "ticker": ticker,
            "trade_date": dt.date(2025, 3, 3), "ts": dt.datetime(2025, 3, 3, 10, 0) + dt.timedelta(minutes=minute),
            "premium": 500_000.0, "strength": 0.8, "tags": ["SWEEP"], "days_to_earnings": None}
    return {**base, **kw}


@pytest.mark.parametrize("routing", [
    None,  # the packaged default
    {"default": "hook"},
    {"SCALP": "a", "DAY_TRADE": "b", "SWING": "c", "default": "d"},
    {"SWING": "c"},
])
def test_builtin_rules_route_every_kind_as_the_routing_does(routing):
    chans = {"hook": {"type": "console"}, "a": {"type": "console"}, "b": {"type": "console"},
             "c": {"type": "console"}, "d": {"type": "console"}}
    cfg = alerts_cfg(chans, routing)
    rules = all_rules(cfg)
    for kind in (*SIGNAL_KINDS, "OTHER"):
        hits = evaluate(row(1, kind=kind), rules, RuleState())
        assert [h.channel for h in hits] == [route_channel(cfg, kind)], kind
        assert all(h.outcome == "alert" and h.rule_source == "builtin" for h in hits)


def test_the_default_routing_is_three_rules():
    rules = builtin_rules(alerts_cfg())
    assert [(r.name, r.channel) for r in rules] == [
        ("route_scalp", "telegram_scalps"), ("route_swing", "telegram_swings"), ("route_default", "telegram_main")]
    cfg = alerts_cfg()
    cfg["alerts"]["builtin_rules"] = False
    assert builtin_rules(cfg) == []


def test_rule_validation_reports_every_problem_by_name():
    with pytest.raises(RuleError) as exc:
        parse_rule({"name": "big", "applies_to": "orders", "channel": "", "cooldown_minutes": -1, "daily_cap": 0,
                    "mode": "long", "colour": "red", "when": {"premum": 1}})
    msg = str(exc.value)
    for part in ("rule 'big': unknown key 'colour'", "applies_to must be one of signal, order, got 'orders'",
                 "channel must name a channel", "cooldown_minutes must be a number >= 0, got -1",
                 "daily_cap must be a whole number >= 1 or null, got 0", "mode must be one of short, medium, deep_dive"):
        assert part in msg, part
    with pytest.raises(RuleError, match=r"rule 'x': when.premium.gte: must be a number, got '1M' \(str\)"):
        parse_rule({"name": "x", "when": {"premium": {"gte": "1M"}}, "channel": "console"})
    with pytest.raises(RuleError, match=r"alerts.rules\[0\]: name must be"):
        cfg = alerts_cfg()
        cfg["alerts"]["rules"] = [{"name": "has space", "channel": "console"}]
        all_rules(cfg)


def test_unknown_channel_and_duplicate_names():
    cfg = alerts_cfg({"desk": {"type": "discord", "env": "PF_DESK_URL"}})
    cfg["alerts"]["rules"] = [{"name": "a", "channel": "dsek"}, {"name": "route_swing", "channel": "desk"}]
    with pytest.raises(RuleError) as exc:
        all_rules(cfg)
    assert "rule 'a': unknown channel 'dsek' (declared under alerts.channels: desk" in str(exc.value)
    assert "rule 'route_swing': defined twice (builtin and config)" in str(exc.value)


def test_a_channel_whose_secret_is_not_set_names_the_rule():
    cfg = alerts_cfg({"desk": {"type": "discord", "env": "PF_DESK_URL"}})
    cfg["alerts"]["rules"] = [{"name": "a", "channel": "desk"}]
    problems = check_rule_secrets(cfg, all_rules(cfg), environ={})
    assert any("channel 'desk' (discord): environment variable PF_DESK_URL is not set" in p for p in problems)
    assert any("channel 'desk' is used by rule(s) a" in p for p in problems)
    ok = check_rule_secrets(cfg, all_rules(cfg), environ={"PF_DESK_URL": "https://discord.com/api/webhooks/1/x"})
    assert ok == []


def _cooldown_rule(**kw):
    return parse_rule({"name": "big", "when": {"premium": {"gte": 100000}}, "channel": "console",
                       "cooldown_minutes": 15, **kw})


def test_cooldown_is_per_ticker_and_rule_in_event_time():
    rules = [_cooldown_rule()]
    hits = evaluate_rows([row(1, minute=0), row(2, minute=10), row(3, minute=16), row(4, ticker="QQQ", minute=5)],
                         rules, RuleState())
    assert [(h.row_id, h.outcome) for h in hits] == [
        ("s1", "alert"), ("s4", "alert"), ("s2", "cooldown"), ("s3", "alert")]


def test_suppressed_hits_do_not_restart_the_cooldown_and_the_cap_holds_per_session():
    rules = [_cooldown_rule(cooldown_minutes=10, daily_cap=2)]
    rows = [row(i, minute=m, ticker=t) for i, (m, t) in enumerate([(0, "A"), (5, "A"), (11, "A"), (12, "B"),
                                                                   (30, "C")])]
    out = [(h.row_id, h.outcome) for h in evaluate_rows(rows, rules, RuleState())]
    assert out == [("s0", "alert"), ("s1", "cooldown"), ("s2", "alert"), ("s3", "daily_cap"), ("s4", "daily_cap")]
    nxt = row(9, minute=0, trade_date=dt.date(2025, 3, 4), ts=dt.datetime(2025, 3, 4, 10))
    st = RuleState()
    evaluate_rows(rows, rules, st)
    assert [h.outcome for h in evaluate_rows([nxt], rules, st)] == ["alert"]  # a new session


def test_evaluate_is_pure_and_a_row_is_evaluated_once():
    rules = [_cooldown_rule()]
    st = RuleState()
    first = evaluate(row(1), rules, st)
    assert first[0].outcome == "alert" and st.last_alert == {} and st.seen == set()
    evaluate_rows([row(1)], rules, st)
    assert evaluate(row(1), rules, st) == []  # already recorded
    assert RuleState.from_hits([{"rule": "big", "channel": "console", "outcome": "alert", "row_id": "s1",
                                 "ticker": "SPY", "ts": dt.datetime(2025, 3, 3, 10), "trade_date": dt.date(2025, 3, 3)}]
                               ).last_alert == st.last_alert


def test_earnings_gate_blocks_the_configured_kinds_only_when_the_date_is_known():
    cfg = alerts_cfg()
    cfg["earnings"]["gate_kinds"] = ["SWING"]
    cfg["earnings"]["gate_days"] = 3
    gate = EarningsGate.from_config(cfg)
    rules = all_rules(cfg)
    assert evaluate(row(1, kind="SWING", days_to_earnings=2), rules, RuleState(), gate)[0].outcome == "earnings_gate"
    assert evaluate(row(2, kind="SWING", days_to_earnings=4), rules, RuleState(), gate)[0].outcome == "alert"
    assert evaluate(row(3, kind="SWING", days_to_earnings=None), rules, RuleState(), gate)[0].outcome == "alert"
    assert evaluate(row(4, kind="SCALP", days_to_earnings=1), rules, RuleState(), gate)[0].outcome == "alert"
    cfg["earnings"]["gate_kinds"] = ["SWINGS"]
    with pytest.raises(RuleError, match=r"earnings.gate_kinds: unknown signal kind\(s\) \['SWINGS'\]"):
        EarningsGate.from_config(cfg)


def test_signal_rules_do_not_match_orders_and_order_rules_not_signals():
    sig_rule = parse_rule({"name": "s", "when": {"premium": {"gte": 1}}, "channel": "console"})
    ord_rule = parse_rule({"name": "o", "applies_to": "order", "when": {"premium": {"gte": 1}}, "channel": "console"})
    assert [h.rule for h in evaluate(row(1), [sig_rule, ord_rule], RuleState())] == ["s"]
    assert [h.rule for h in evaluate(row(1, kind="ORDER"), [sig_rule, ord_rule], RuleState())] == ["o"]
    assert make_signal(1).kind == "SCALP"
