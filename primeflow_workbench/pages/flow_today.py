"""Flow today: the latest session's signals (daily and live) with filters, the strategy
scorecard, unusual activity, and a signal opened to its order, prints, context, paper outcome,
alerts and the ticker's gamma levels."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from primeflow_lib.workbench import explain, readcopy
from primeflow_lib.workbench import flow_views as fv
from primeflow_workbench import charts, widgets

st.title("Flow today")
widgets.require_read_copy()

latest = widgets.cached(fv.latest_session)
signals_of = widgets.cached(fv.session_signals)
choices_of = widgets.cached(fv.session_choices)


def _detail(signal_id: str, source: str, sources: str) -> None:
    d = widgets.cached(fv.signal_detail)(signal_id, source)
    sig = d["signal"]
    st.subheader(f"{sig['kind']} {sig['direction']} {sig['ticker']} {sig['option_symbol']}")
    widgets.synthetic_notice([sig["vendor"]], "This signal and its prints")
    c = st.columns(4)
    c[0].metric("strength", f"{sig['strength']:.2f}")
    c[1].metric("premium", f"${sig['premium']:,.0f}")
    c[2].metric("size", f"{sig['size']:,} contracts")
    c[3].metric("sources", sources)
    st.caption(f"signal_id `{sig['signal_id']}` · event_id `{sig['event_id']}` · tags "
               f"{sig['tags'] or '-'}")
    tabs = st.tabs(["Order", "Prints", "Context", "Rules & score", "Paper outcome", "Alerts",
                    "Gamma levels"])
    with tabs[0]:
        if d["order"] is None:
            st.info(f"No order {sig['event_id']} in {fv.EVENT_TABLES[source]}.")
        else:
            st.dataframe(pd.DataFrame([d["order"]]).T.rename(columns={0: "value"}).astype(str))
    with tabs[1]:
        if d["prints"].empty:
            st.info("No prints stored for this order.")
        else:
            st.dataframe(d["prints"], hide_index=True)
    with tabs[2]:
        st.caption("The market around the order when it was scored (flow.flow_context and the "
                   "signal's context_json); distances are level / spot - 1.")
        st.dataframe(explain.context_table(d["context"]), hide_index=True, width="stretch",
                     key="flow_context_table")
    with tabs[3]:
        st.caption("Every gate passed (a signal exists only when all do) and the soft checks it "
                   "failed (recorded, never blocking).")
        st.dataframe(explain.rules_table(sig["rules_passed"], sig["rules_failed"]), hide_index=True,
                     width="stretch", key="flow_rules_table")
        st.caption("Score components, each in [0, 1]; strength is their blend.")
        st.dataframe(explain.score_table(sig["score_json"]), hide_index=True, key="flow_score_table")
    with tabs[4]:
        if d["paper"] is None:
            st.info("No paper position for this signal (live.paper_positions).")
        else:
            p = d["paper"]
            c = st.columns(4)
            c[0].metric("status", str(p.get("status")))
            c[1].metric("exit", str(p.get("exit_reason") or "-"))
            rp = p.get("return_pct")
            c[2].metric("underlying return", "-" if pd.isna(rp) else f"{rp:.2%}")
            op = p.get("option_pnl")
            c[3].metric("option P&L / contract", "-" if pd.isna(op) else f"${op:,.0f}")
            st.dataframe(pd.DataFrame([p]).T.rename(columns={0: "value"}).astype(str))
    with tabs[5]:
        if d["alerts"].empty:
            st.info("No alert was queued for this signal (live.alert_outbox).")
        else:
            for _, a in d["alerts"].iterrows():
                st.caption(f"{a['channel']} · {a['mode']} · {a['status']}")
                st.code(a["message_text"], language=None)
    with tabs[6]:
        _gamma(sig["ticker"], sig["trade_date"], "signal", before=True)


def _gamma(ticker: str, session, where: str, *, before: bool = False) -> None:
    """The ticker's dealer gamma levels and the by-strike chart: for a signal the snapshot
    *before* its session (what it knew, as its context; ``before``), for the page the latest."""
    gex = widgets.cached(fv.gamma_levels)(ticker, session, before=before)
    if gex is None:
        st.info("No gamma levels: market.gamma_exposure is not in this warehouse yet "
                "(materialize market/gamma_exposure, or run `make demo`).")
        return
    if gex.empty:
        st.info(f"No gamma levels for {ticker} {'before' if before else 'up to'} {session}: "
                f"{widgets.cached(fv.gamma_source)()} has no row for it (no chain snapshot).")
        return
    row = gex.iloc[0]
    widgets.synthetic_notice(readcopy.vendors(gex), "These gamma levels")
    day = pd.Timestamp(row["trade_date"]).date()
    when = (f"The snapshot before the signal's session: taken after the close of {day}, what the "
            "signal knew (its context uses the same row)" if before else
            f"Snapshot after the close of {day} (applies to the next session; a signal's context "
            "uses the snapshot before its session)")
    st.caption(f"{when} · sign convention "
               f"**{row['convention']}** (an assumption: dealer books are not public) · GEX in "
               f"USD of dealer delta per 1 % move · from {widgets.cached(fv.gamma_source)()}")
    total = row["total_gex_musd"] if "total_gex_musd" in row else row["total_gex"] / 1e6
    c = st.columns(5)
    c[0].metric("total GEX", f"${total:,.1f}M")
    regime = "POSITIVE" if total > 0 else "NEGATIVE" if total < 0 else "UNKNOWN"
    c[1].metric("regime", str(row.get("gex_regime", regime)))
    levels = (("zero-gamma flip", "zero_gamma"), ("call wall", "call_wall"),
              ("put wall", "put_wall"))
    for col, (label, key) in zip(c[2:], levels, strict=True):
        v = row[key]
        col.metric(label, "none" if pd.isna(v) else f"{v:,.2f}")
    strikes = widgets.cached(fv.gamma_by_strike)(ticker, row["trade_date"])
    if strikes is not None and not strikes.empty:
        st.altair_chart(charts.gex_by_strike(strikes, row["spot"]), width="stretch",
                        key=f"gex_chart_{where}")
    st.dataframe(gex, hide_index=True, key=f"gex_table_{where}")

with widgets.user_errors():
    session = latest()
    if session is None:
        st.info("No signals yet: flow.signals and live.signals are empty. Run `make demo`, or "
                "materialize the flow assets in `make ui`.")
        st.stop()
    ch = choices_of(session)
    st.caption(f"Latest session with signals: **{session}**")
    f = st.columns([1.2, 2, 2, 1.2, 1.6])
    kinds = f[0].multiselect("Kind", ch["kinds"], key="flow_kinds")
    tickers = f[1].multiselect("Ticker", ch["tickers"], key="flow_tickers")
    tags = f[2].multiselect("Tag", ch["tags"], key="flow_tags")
    min_strength = f[3].slider("Min strength", 0.0, 1.0, 0.0, 0.05, key="flow_strength")
    sources = f[4].multiselect("Source", ["daily", "live"], ["daily", "live"], key="flow_sources",
                               help="A signal scored by both the daily partition and the near-live "
                                    "path is one row with both sources.")
    df = signals_of(session, kinds=tuple(kinds), tickers=tuple(tickers), tags=tuple(tags),
                    min_strength=min_strength, sources=tuple(sources))
    widgets.synthetic_notice(readcopy.vendors(df), "These signals")
    st.subheader(f"Signals ({len(df)})")
    event = st.dataframe(
        df.drop(columns=["source"]), hide_index=True, on_select="rerun", selection_mode="single-row",
        key="flow_table",
        column_config={"strength": st.column_config.ProgressColumn(min_value=0, max_value=1,
                                                                   format="%.2f"),
                       "premium": st.column_config.NumberColumn(format="$%,.0f"),
                       "otm_pct": st.column_config.NumberColumn(format="percent")})
    rows = event.selection.rows if event is not None else []
    if not df.empty:
        labels = [f"{r.kind} {r.ticker} {r.option_symbol} {r.strength:.2f} ({r.sources}) "
                  f"{r.signal_id}" for r in df.itertuples()]
        pick = st.selectbox("Open a signal", range(len(df)), index=rows[0] if rows else None,
                            format_func=lambda i: labels[i], key="flow_pick",
                            placeholder="select a row above or choose here")
        if pick is not None:
            with st.container(border=True):
                _detail(df["signal_id"].iloc[pick], df["source"].iloc[pick], df["sources"].iloc[pick])
    # full width, one after the other: every column of the scorecard stays readable
    st.subheader("Strategy scorecard")
    sc = widgets.cached(fv.strategy_scorecard)()
    if sc is None:
        st.info("marts.strategy_scorecard is not built yet (run the marts job).")
    else:
        st.caption("All sessions, paper outcomes (marts.strategy_scorecard), in the units "
                   "`make demo` prints: win rate and strength 0-1, returns in percent of the "
                   "underlying, option P&L in USD per contract.")
        st.dataframe(explain.scorecard_table(sc), hide_index=True, width="stretch",
                     key="flow_scorecard")
    st.subheader("Unusual activity")
    ua = widgets.cached(fv.unusual_activity)(session)
    if ua is None:
        st.info("marts.unusual_activity is not built yet (run the marts job).")
    else:
        st.caption(f"{session}: premium >= $100k, size >= 1,000 or an ISO sweep "
                   "(marts.unusual_activity)")
        widgets.synthetic_notice(readcopy.vendors(ua), "These orders")
        st.dataframe(ua, hide_index=True, height=320, width="stretch")
    st.subheader("Dealer gamma")
    names = widgets.cached(fv.gamma_tickers)(session)
    if not names:
        _gamma(ch["tickers"][0] if ch["tickers"] else "", session, "page")
    else:
        gex_ticker = st.selectbox("Underlying", names, key="flow_gex_ticker")
        _gamma(gex_ticker, session, "page")
