"""Alert rules: every rule (built-in kind routing, config, saved here) with where it comes from,
an editor that previews a rule on a stored session and saves it to the warehouse, and the hits
the daily and near-live paths recorded."""

from __future__ import annotations

import json

import streamlit as st
import yaml

from primeflow_lib.alerts.formatting import MODES
from primeflow_lib.alerts.routing import DEFAULTABLE_CHANNELS
from primeflow_lib.alerts.rules import APPLIES_TO, OUTCOMES
from primeflow_lib.workbench import desk_views as dv
from primeflow_workbench import widgets
from primeflow_workbench.desk_widgets import desk_config, desk_errors

st.title("Alert rules")
widgets.require_read_copy()

EXAMPLE = "ticker: [SPY, QQQ]\nevent_type: sweep\npremium: {gte: 500000}\nside: [ask, above_ask]"
_DEFAULTS = {"rule_name": "", "rule_desc": "", "rule_on": "order", "rule_when": EXAMPLE, "rule_channel": "console",
             "rule_cooldown": 15.0, "rule_cap": 10, "rule_mode": "", "rule_enabled": True}
for _k, _v in _DEFAULTS.items():
    st.session_state.setdefault(_k, _v)


def _edit() -> None:
    """Load the saved rule chosen in the selectbox into the editor."""
    name = st.session_state.get("rule_pick")
    if not name:
        return
    r = next((x for x in st.session_state.get("_rules", []) if x.name == name), None)
    if r is None:
        return
    d = r.to_dict()
    st.session_state.update({
        "rule_name": r.name, "rule_desc": r.description, "rule_on": r.applies_to,
        "rule_when": yaml.safe_dump(d["when"], sort_keys=False).strip(), "rule_channel": r.channel,
        "rule_cooldown": float(r.cooldown_minutes), "rule_cap": int(r.daily_cap or 0), "rule_mode": r.mode or "",
        "rule_enabled": r.enabled})


def _spec() -> dict:
    s = st.session_state
    when = yaml.safe_load(s.rule_when) if s.rule_when.strip() else {}
    spec = {"name": s.rule_name.strip(), "applies_to": s.rule_on, "when": when, "channel": s.rule_channel,
            "cooldown_minutes": float(s.rule_cooldown), "daily_cap": int(s.rule_cap) or None,
            "enabled": bool(s.rule_enabled)}
    if s.rule_desc.strip():
        spec["description"] = s.rule_desc.strip()
    if s.rule_mode:
        spec["mode"] = s.rule_mode
    return spec


def _act(preview: bool, save: bool, day, cfg) -> None:
    """Preview the rule in the editor on a stored session, or save it."""
    spec = _spec()
    if preview:
        hits = dv.rule_preview(spec, day, cfg)
        counts = hits["outcome"].value_counts().to_dict() if len(hits) else {}
        st.write(f"**{len(hits)} hits on {day}** {json.dumps(counts)} (not saved; from an empty state)")
        if len(hits):
            st.dataframe(hits[["ts", "ticker", "kind", "row_id", "channel", "outcome", "premium",
                               "days_to_earnings"]], hide_index=True, key="rule_preview_table")
    if save:
        r = dv.save_rule(spec, cfg)
        st.success(f"Saved rule {r.name!r} (on {r.applies_to} -> {r.channel}); the next daily run and live batch "
                   "evaluate it.")


with desk_errors():
    cfg = desk_config()
    rules = dv.rules(cfg)
    st.session_state["_rules"] = rules
    st.subheader(f"Rules ({len(rules)})")
    st.caption(f"builtin: the kind routing (alerts.routing, alerts.builtin_rules) · config: alerts.rules in "
               f"{cfg['source']} · warehouse: saved here (live.alert_rules). The daily path records what every "
               "rule matches (flow.rule_alerts); the near-live path sends the alerts (live.alert_outbox).")
    st.dataframe(dv.rules_frame(rules), hide_index=True, key="rules_table")

    st.subheader("Edit a rule")
    saved = [r.name for r in rules if r.source == "warehouse"]
    st.selectbox("Open a saved rule", ["", *saved], key="rule_pick", on_change=_edit,
                 format_func=lambda n: n or "a new rule")
    a = st.columns([1.5, 2.5, 1, 1.5])
    a[0].text_input("Name", key="rule_name")
    a[1].text_input("Description", key="rule_desc")
    a[2].radio("Applies to", list(APPLIES_TO), key="rule_on", horizontal=True,
               help="signal: scored signals; order: every order of the flow")
    channels = sorted(set(cfg["alerts"].get("channels") or {}) | DEFAULTABLE_CHANNELS)
    if st.session_state.rule_channel not in channels:
        channels.append(st.session_state.rule_channel)
    a[3].selectbox("Channel", channels, key="rule_channel")
    st.text_area("When (YAML, the filter language of the Tape: field -> condition)", key="rule_when", height=120)
    b = st.columns(5)
    b[0].number_input("Cooldown (minutes, per ticker)", min_value=0.0, step=5.0, key="rule_cooldown")
    b[1].number_input("Daily cap (0 = none)", min_value=0, step=1, key="rule_cap")
    b[2].selectbox("Format", ["", *MODES], key="rule_mode", format_func=lambda m: m or "by kind")
    b[3].checkbox("Enabled", key="rule_enabled")
    days = widgets.cached(dv.tape_sessions)("daily")
    day = b[4].selectbox("Preview on session", days, key="rule_day") if days else None

    c = st.columns([1, 1, 1, 4])
    preview = c[0].button("Preview", key="rule_preview", disabled=day is None)
    save = c[1].button("Save rule", key="rule_save", type="primary")
    delete = c[2].button("Delete rule", key="rule_delete", disabled=st.session_state.rule_name.strip() not in saved)
    if preview or save:
        with desk_errors():  # a refused rule is shown here; the rest of the page still runs
            _act(preview, save, day, cfg)
    if delete:
        dv.delete_rule(st.session_state.rule_name.strip())
        st.success(f"Deleted rule {st.session_state.rule_name.strip()!r}")

    st.subheader("Hits")
    h = st.columns(3)
    hit_day = h[0].selectbox("Session", [None, *days], key="hits_day",
                             format_func=lambda d: "every session" if d is None else str(d))
    hit_rule = h[1].selectbox("Rule", ["", *[r.name for r in rules]], key="hits_rule",
                              format_func=lambda n: n or "every rule")
    outcomes = h[2].multiselect("Outcome", list(OUTCOMES), key="hits_outcome")
    hits = widgets.cached(dv.rule_hits)(hit_day, hit_rule or None)
    if outcomes:
        hits = hits[hits["outcome"].isin(outcomes)]
    if hits.empty:
        st.info("No rule hits recorded for this choice (flow/rule_alerts runs with the daily partitions; the "
                "near-live job records live.rule_alerts).")
    else:
        st.dataframe(hits.groupby(["path", "rule", "outcome"]).size().rename("hits").reset_index(),
                     hide_index=True, key="hits_summary")
        st.dataframe(hits.head(2000), hide_index=True, key="hits_table")
