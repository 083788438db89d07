"""Tape: every order of a session (or range) filtered by ticker, type and structure, side,
call/put, premium, size, DTE (0DTE on/off), OTM %, vol/OI, opening/closing estimate, ETF and
tags; sortable; saved presets; an order opens to its prints, context, signals and alerts."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st
import yaml

from primeflow_lib.flow.classify import EVENT_TYPES, STRUCTURES
from primeflow_lib.flow.criteria import OPEN_CLOSE, ORDER_TAG_NAMES
from primeflow_lib.flow.side import SIDE_LABELS
from primeflow_lib.flow.tape import TAPE_COLUMNS, TOGGLES, TapeQuery, simple_where, split_where
from primeflow_lib.workbench import desk_views as dv
from primeflow_lib.workbench import readcopy
from primeflow_workbench import widgets
from primeflow_workbench.desk_widgets import desk_config, desk_errors

st.title("Tape")
widgets.require_read_copy()

#: widget key -> (simple_where keyword, default)
FILTERS = {
    "tape_tickers": ("tickers", []), "tape_types": ("event_types", []), "tape_structures": ("structures", []),
    "tape_sides": ("sides", []), "tape_rights": ("rights", []), "tape_min_premium": ("min_premium", 0.0),
    "tape_max_premium": ("max_premium", 0.0), "tape_min_size": ("min_size", 0), "tape_min_dte": ("min_dte", 0),
    "tape_max_dte": ("max_dte", 0), "tape_zero_dte": ("zero_dte", "include"), "tape_min_otm": ("min_otm_pct", None),
    "tape_max_otm": ("max_otm_pct", None), "tape_min_vol_oi": ("min_vol_oi", 0.0),
    "tape_open_close": ("open_close", []), "tape_etf": ("etf", "include"), "tape_tags": ("tags", []),
    "tape_without_tags": ("exclude_tags", []),
}


def _load_preset() -> None:
    """Put the chosen preset into the widgets (conditions they cannot show go to the extra box)."""
    name = st.session_state.get("tape_preset")
    if not name:
        return
    try:
        q = dv.preset(name)
    except Exception as exc:  # noqa: BLE001 - shown on the page below
        st.session_state["tape_preset_error"] = widgets.message(exc)
        return
    st.session_state.pop("tape_preset_error", None)
    simple, extra = split_where(q.to_dict()["where"])
    for key, (kw, default) in FILTERS.items():
        v = simple.get(kw, default)
        if key in ("tape_min_otm", "tape_max_otm") and v is not None:
            v = float(v) * 100
        st.session_state[key] = v
    st.session_state["tape_extra"] = yaml.safe_dump(extra, sort_keys=False).strip() if extra else ""
    st.session_state["tape_sort"] = q.sort
    st.session_state["tape_desc"] = q.descending
    st.session_state["tape_limit"] = q.limit


_DEFAULTS = {key: default for key, (_, default) in FILTERS.items()} | {
    "tape_extra": "", "tape_sort": "premium", "tape_desc": True}
for _k, _v in _DEFAULTS.items():
    st.session_state.setdefault(_k, _v)

with desk_errors():
    cfg = desk_config()
    st.session_state.setdefault("tape_limit", int(cfg["tape"]["max_rows"]))
    source = st.sidebar.radio("Source", ["daily", "live"], key="tape_source", horizontal=True,
                              help="daily: flow.flow_events; live: live.flow_events (near-live batches)")
    sessions = widgets.cached(dv.tape_sessions)(source)
    if not sessions:
        st.info(f"No orders in {'flow' if source == 'daily' else 'live'}.flow_events yet: run `make demo`, or "
                "materialize the flow assets in `make ui`.")
        st.stop()
    top = st.columns([1.2, 1.2, 2.2, 1.4])
    day = top[0].selectbox("Session", sessions, key="tape_day")
    until = top[1].selectbox("Through (range)", [None, *[d for d in sessions if d > day]], key="tape_until",
                             format_func=lambda d: "same session" if d is None else str(d))
    presets = widgets.cached(dv.presets)()
    top[2].selectbox("Preset", ["", *presets["name"].tolist()], key="tape_preset", on_change=_load_preset,
                     format_func=lambda n: n or "none (choose a saved filter)")
    if st.session_state.get("tape_preset_error"):
        st.error(st.session_state["tape_preset_error"])
    top[3].caption(f"{len(presets)} saved preset(s); save the current filter below the table.")

    f = st.columns(5)
    f[0].multiselect("Ticker", widgets.cached(dv.tape_tickers)(day, source), key="tape_tickers")
    f[1].multiselect("Type", list(EVENT_TYPES), key="tape_types")
    f[2].multiselect("Structure", list(STRUCTURES), key="tape_structures", help="multi-leg structure")
    f[3].multiselect("Side", list(SIDE_LABELS), key="tape_sides")
    f[4].multiselect("Call / put", ["C", "P"], key="tape_rights")
    g = st.columns(6)
    g[0].number_input("Min premium ($)", min_value=0.0, step=50_000.0, key="tape_min_premium")
    g[1].number_input("Max premium ($, 0 = none)", min_value=0.0, step=50_000.0, key="tape_max_premium")
    g[2].number_input("Min size", min_value=0, step=100, key="tape_min_size")
    g[3].number_input("Min DTE", min_value=0, step=1, key="tape_min_dte")
    g[4].number_input("Max DTE (0 = none)", min_value=0, step=1, key="tape_max_dte")
    g[5].radio("0DTE", list(TOGGLES), key="tape_zero_dte", horizontal=True)
    h = st.columns(6)
    h[0].number_input("Min OTM %", step=1.0, key="tape_min_otm", help="negative = ITM; empty = none")
    h[1].number_input("Max OTM %", step=1.0, key="tape_max_otm")
    h[2].number_input("Min vol/OI", min_value=0.0, step=0.5, key="tape_min_vol_oi")
    h[3].multiselect("Opening / closing", list(OPEN_CLOSE), key="tape_open_close",
                     help="estimate from the next snapshot's OI change (known after the session)")
    h[4].radio("ETF", list(TOGGLES), key="tape_etf", horizontal=True)
    h[5].multiselect("Tags (any)", list(ORDER_TAG_NAMES), key="tape_tags")
    k = st.columns([1.2, 2.6, 1.2, 0.8, 0.9])
    k[0].multiselect("Without tags", list(ORDER_TAG_NAMES), key="tape_without_tags")
    k[1].text_area("More conditions (YAML, the filter language)", key="tape_extra", height=68,
                   placeholder="vol_oi: {gte: 2}\nrvol: {gte: 1.5}")
    sort = k[2].selectbox("Sort by", list(TAPE_COLUMNS), key="tape_sort")
    desc = k[3].checkbox("Desc", key="tape_desc")
    limit = k[4].number_input("Rows", min_value=1, max_value=100_000, key="tape_limit")

    s = st.session_state
    pct = (lambda v: None if v is None else float(v) / 100)  # noqa: E731
    where = simple_where(
        tickers=s.tape_tickers, event_types=s.tape_types, structures=s.tape_structures, sides=s.tape_sides,
        rights=s.tape_rights, min_premium=s.tape_min_premium or None, max_premium=s.tape_max_premium or None,
        min_size=s.tape_min_size or None, min_dte=s.tape_min_dte or None, max_dte=s.tape_max_dte or None,
        zero_dte=s.tape_zero_dte, min_otm_pct=pct(s.tape_min_otm), max_otm_pct=pct(s.tape_max_otm),
        min_vol_oi=s.tape_min_vol_oi or None, open_close=s.tape_open_close, etf=s.tape_etf, tags=s.tape_tags,
        exclude_tags=s.tape_without_tags)
    extra = yaml.safe_load(s.tape_extra) if (s.get("tape_extra") or "").strip() else {}
    if not isinstance(extra, dict):
        st.error("More conditions: must be a mapping of field -> condition, e.g. vol_oi: {gte: 2}")
        st.stop()
    for fld, cond in extra.items():
        where[fld] = {**where[fld], **cond} if isinstance(where.get(fld), dict) and isinstance(cond, dict) else cond
    spec = {"where": where, "sort": ("-" if desc else "") + sort, "limit": int(limit), "source": source,
            "start": day.isoformat(), "end": (until or day).isoformat()}
    query = TapeQuery.from_dict(spec)
    res = widgets.cached(dv.tape)(spec, cfg)
    for note in res.notes:
        st.caption(f"Note: {note}")
    widgets.synthetic_notice(readcopy.vendors(res.rows), "These orders")
    span = f"{res.start}" if res.start == res.end else f"{res.start} .. {res.end}"
    st.subheader(f"Orders ({len(res.rows):,} of {res.total:,})")
    st.caption(f"{span} · sorted by {spec['sort']} · query {res.seconds * 1000:.0f} ms")
    shown = res.rows.copy()
    shown["tags"] = shown["tags"].str.replace(",", ", ")
    shown["days_to_earnings"] = shown["days_to_earnings"].astype("Int64").astype(str).replace("<NA>", "unknown")
    event = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="single-row", key="tape_table",
        column_config={"premium": st.column_config.NumberColumn(format="$%,.0f"),
                       "otm_pct": st.column_config.NumberColumn(format="percent"),
                       "vol_oi": st.column_config.NumberColumn(format="%.2f")})

    save = st.columns([2, 3, 1, 1])
    save[0].text_input("Save this filter as", key="tape_save_name", placeholder="preset name")
    save[1].text_input("Description", key="tape_save_desc")
    if save[2].button("Save preset", key="tape_save"):
        with desk_errors():  # a refused name is shown here; the table and the detail still show
            name = (s.get("tape_save_name") or "").strip()
            dv.save_preset(name, query, s.get("tape_save_desc") or None)
            st.success(f"Saved preset {name!r}: {json.dumps(query.to_dict(with_dates=False))}")
    if save[3].button("Delete preset", key="tape_delete", disabled=not s.get("tape_preset")):
        dv.delete_preset(s.tape_preset)
        st.success(f"Deleted preset {s.tape_preset!r}")

    rows = event.selection.rows if event is not None else []
    if not res.rows.empty:
        labels = [f"{r.ticker} {r.option_symbol} {r.event_type} {r.side} ${r.premium:,.0f} {r.event_id}"
                  for r in res.rows.itertuples()]
        pick = st.selectbox("Open an order", range(len(res.rows)), index=rows[0] if rows else None,
                            format_func=lambda i: labels[i], key="tape_pick",
                            placeholder="select a row above or choose here")
        if pick is not None:
            d = widgets.cached(dv.order)(res.rows["event_id"].iloc[pick], cfg, source)
            o = d["order"]
            with st.container(border=True):
                st.subheader(f"{o['ticker']} {o['option_symbol']} {o['event_type']} {o['side']}")
                c = st.columns(5)
                c[0].metric("premium", f"${o['premium']:,.0f}")
                c[1].metric("size", f"{o['size']:,} contracts")
                c[2].metric("open / close", str(o["open_close"]))
                dte_e = o.get("days_to_earnings")
                c[3].metric("days to earnings", "unknown" if dte_e is None or pd.isna(dte_e) else int(dte_e))
                c[4].metric("tags", ", ".join(o["tags"]) or "-")
                tabs = st.tabs(["Order", "Prints", "Context", "Signals", "Alerts", "Rule hits"])
                with tabs[0]:
                    st.dataframe(pd.DataFrame([o]).T.rename(columns={0: "value"}).astype(str), key="tape_order")
                with tabs[1]:
                    if d["prints"].empty:
                        st.info("No prints stored for this order.")
                    else:
                        st.dataframe(d["prints"], hide_index=True, key="tape_prints")
                with tabs[2]:
                    st.json({k: str(v) for k, v in d["context"].items()}, expanded=False)
                with tabs[3]:
                    if d["signals"].empty:
                        st.info("No signal was scored on this order.")
                    else:
                        st.dataframe(d["signals"], hide_index=True, key="tape_signals")
                with tabs[4]:
                    if d["alerts"].empty:
                        st.info("No alert was queued for this order or its signals (live.alert_outbox).")
                    else:
                        for _, a in d["alerts"].iterrows():
                            st.caption(f"{a['channel']} · rule {a['rule']} · {a['status']}")
                            st.code(a["message_text"], language=None)
                with tabs[5]:
                    if d["rule_hits"].empty:
                        st.info("No alert rule matched this order or its signals.")
                    else:
                        st.dataframe(d["rule_hits"], hide_index=True, key="tape_hits")
