"""Market desk: the net-premium tide (market, ticker, sector) with the price, volatility (IV
rank and percentile with the sessions they used, term structure, skew), open interest (change
by strike, movers, max pain) and exposure beyond gamma (GEX, DEX, vanna, charm; 0DTE apart)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from primeflow_lib.flow.tide import SCOPES, sectors
from primeflow_lib.workbench import desk_views as dv
from primeflow_lib.workbench import readcopy
from primeflow_workbench import desk_charts, widgets
from primeflow_workbench.desk_widgets import desk_config, desk_errors

st.title("Market desk")
widgets.require_read_copy()

MARTS_MISSING = "is not built yet: run the marts job (or `make demo`)."


def _tide(cfg) -> None:
    days = widgets.cached(dv.tide_sessions)()
    if days is None:
        st.info(f"marts.tide_minute {MARTS_MISSING}")
        return
    if not days:
        st.info("marts.tide_minute has no rows yet (no orders).")
        return
    c = st.columns([1.2, 1, 1.6])
    day = c[0].selectbox("Session", days, key="tide_day")
    scope = c[1].radio("Scope", list(SCOPES), key="tide_scope", horizontal=True)
    if scope == "market":
        name = "ALL"
    elif scope == "sector":
        name = c[2].selectbox("Sector", list(sectors(cfg)), key="tide_sector")
    else:
        name = c[2].selectbox("Ticker", widgets.cached(dv.tape_tickers)(day), key="tide_ticker")
    if name is None:
        st.info("Nothing to show for this choice.")
        return
    s = widgets.cached(dv.tide)(scope, name, day, cfg)
    if s is None or s.empty:
        st.info(f"No tide for {scope} {name} on {day}.")
        return
    price = s["price_ticker"].iloc[0] if "price_ticker" in s.columns else (name if scope == "ticker" else None)
    last = s.iloc[-1]
    m = st.columns(4)
    m[0].metric("net premium at the close", f"${last['cum_net_premium']:,.0f}")
    m[1].metric("net call premium", f"${last['cum_net_call_premium']:,.0f}")
    m[2].metric("net put premium", f"${last['cum_net_put_premium']:,.0f}")
    m[3].metric("directional orders", f"{int(s['orders'].sum()):,}")
    st.altair_chart(desk_charts.tide_chart(s, price), width="stretch", key="tide_chart")
    st.caption("Net premium = (calls at the ask side + puts at the bid side) - (calls at the bid side + puts "
               "at the ask side), USD, running from the open; mid, multi-leg, stock-option and late orders are "
               "left out; an order counts in the minute of its last print. "
               + (f"Price: {price} 1-minute close." if price else "A sector has no single price."))
    lead = widgets.cached(dv.tide_leaders)(day)
    if lead is not None and len(lead):
        st.write("Most bullish and bearish tickers at the close")
        st.dataframe(lead, hide_index=True, key="tide_leaders",
                     column_config={c: st.column_config.NumberColumn(format="$%,.0f")
                                    for c in ("net_premium", "net_call_premium", "net_put_premium")})


def _vol() -> None:
    snap = widgets.cached(dv.vol_snapshot)()
    if snap is None:
        st.info(f"marts.iv_stats {MARTS_MISSING}")
        return
    if snap.empty:
        st.info("marts.iv_stats has no rows yet (no chain snapshots).")
        return
    day = pd.Timestamp(snap["trade_date"].iloc[0]).date()
    warn = dv.vol_warning(snap)
    if warn:
        st.warning(warn, icon=":material/history:")
    widgets.synthetic_notice(readcopy.vendors(snap), "These volatility figures")
    st.caption(f"Snapshot {day}: IV rank = (IV - min) / (max - min) and percentile = share of the window's other "
               "sessions below, over the last lookback_sessions stored snapshots (sessions_used says how many).")
    st.dataframe(snap[["underlying", "atm_iv_30d", "iv_rank", "iv_percentile", "sessions_used", "lookback_sessions",
                       "front_iv", "term_slope", "skew_25d_30d", "vendor"]], hide_index=True, key="vol_table",
                 column_config={c: st.column_config.NumberColumn(format="percent")
                                for c in ("atm_iv_30d", "iv_rank", "iv_percentile", "front_iv", "term_slope",
                                          "skew_25d_30d")})
    und = st.selectbox("Underlying", sorted(snap["underlying"]), key="vol_underlying")
    left, right = st.columns(2)
    hist = widgets.cached(dv.vol_history)(und)
    with left:
        st.write(f"30-day ATM IV of {und}")
        st.altair_chart(desk_charts.line(hist, "trade_date", "atm_iv_30d", y_title="ATM IV (30 d)"),
                        width="stretch", key="vol_history")
    term = widgets.cached(dv.term_structure)(und, day)
    with right:
        st.write(f"Term structure of {und} on {day}")
        if term is None or term.empty:
            st.info("No term structure for this snapshot.")
        else:
            st.altair_chart(desk_charts.line(term, "dte", "atm_iv", x_type="Q", y_title="ATM IV"), width="stretch",
                            key="vol_term")
    if term is not None and len(term):
        st.dataframe(term[["expiry", "dte", "atm_iv", "iv_25d_put", "iv_25d_call", "skew_25d", "contracts"]],
                     hide_index=True, key="vol_term_table")


def _oi() -> None:
    days = widgets.cached(dv.oi_sessions)()
    if days is None:
        st.info(f"marts.oi_change {MARTS_MISSING}")
        return
    if not days:
        st.info("marts.oi_change has no rows yet (no chain snapshots).")
        return
    c = st.columns(2)
    day = c[0].selectbox("Snapshot", days, key="oi_day", help="the change over the session before it")
    und = c[1].selectbox("Underlying", widgets.cached(dv.chain_underlyings)(day), key="oi_underlying")
    miss = widgets.cached(dv.oi_missing)(day)
    if miss is not None and len(miss):
        names = ", ".join(f"{r.underlying} ({pd.Timestamp(r.missing_snapshot).date()})" for r in miss.itertuples())
        st.warning(f"No chain snapshot for the previous session of: {names}. Their OI change is unknown, not zero.",
                   icon=":material/event_busy:")
    if und:
        by_k = widgets.cached(dv.oi_by_strike)(und, day)
        if by_k is not None and len(by_k):
            spot = None
            mp = widgets.cached(dv.max_pain)(und, day)
            if mp is not None and len(mp):
                spot = float(mp["spot"].iloc[0])
            by_k = by_k.assign(call_oi_change=by_k["call_oi_change"].astype(float).fillna(0.0),
                               put_oi_change=by_k["put_oi_change"].astype(float).fillna(0.0))
            st.altair_chart(desk_charts.by_strike(by_k, {"call_oi_change": "calls", "put_oi_change": "puts"},
                                                  "OI change (contracts)", spot), width="stretch", key="oi_chart")
            if mp is None:
                st.info(f"marts.max_pain {MARTS_MISSING}")
            elif len(mp):
                st.write(f"Max pain of {und} per expiry")
                st.dataframe(mp[["expiry", "dte", "max_pain", "spot", "max_pain_dist", "payout_usd", "call_oi",
                                 "put_oi"]], hide_index=True, key="oi_max_pain",
                             column_config={"max_pain_dist": st.column_config.NumberColumn(format="percent"),
                                            "payout_usd": st.column_config.NumberColumn(format="$%,.0f")})
    st.write("Largest OI changes")
    st.dataframe(widgets.cached(dv.oi_movers)(day), hide_index=True, key="oi_movers")
    st.caption("The change dated D is what trading on the session before D did (open interest is published "
               "overnight). The Tape's opening/closing estimate compares an order with it; it is never known "
               "on the day of the order.")


GREEKS = {"gex": "GEX (USD of delta per 1 % move)", "dex": "DEX (USD of underlying)",
          "vanna": "vanna (USD of delta per vol point)", "charm": "charm (USD of delta per day)"}


def _exposure() -> None:
    days = widgets.cached(dv.exposure_sessions)()
    if days is None:
        st.info("market.greek_exposure is not in this warehouse yet: materialize market/greek_exposure "
                "(or run `make demo`).")
        return
    if not days:
        st.info("market.greek_exposure has no rows yet.")
        return
    c = st.columns(3)
    day = c[0].selectbox("Snapshot", days, key="exp_day")
    tot = widgets.cached(dv.exposure_totals)(day)
    und = c[1].selectbox("Underlying", tot["underlying"].tolist(), key="exp_underlying")
    greek = c[2].radio("Exposure", list(GREEKS), key="exp_greek", horizontal=True)
    by_k = widgets.cached(dv.exposure_by_strike)(und, day)
    if by_k is None:
        st.info(f"marts.exposure_by_strike {MARTS_MISSING}")
    elif len(by_k):
        conv = by_k["convention"].iloc[0]
        spot = float(by_k["spot"].iloc[0])
        near = by_k[(by_k["strike"] / spot - 1).abs() <= 0.15]
        st.altair_chart(desk_charts.by_strike(near, {f"{greek}_0dte": "0DTE", f"{greek}_rest": "other expiries"},
                                              GREEKS[greek], spot), width="stretch", key="exp_chart")
        st.caption(f"Sign convention {conv} (an assumption: dealer books are not public). 0DTE = contracts "
                   "expiring in the session after the snapshot. Strikes within 15 % of spot.")
    st.write(f"{und} by expiry")
    st.dataframe(widgets.cached(dv.exposure_by_expiry)(und, day), hide_index=True, key="exp_expiry")
    st.write("Every underlying")
    st.dataframe(tot, hide_index=True, key="exp_totals")


SECTIONS = {"Tide": _tide, "Volatility": _vol, "Open interest": _oi, "Exposure": _exposure}

with desk_errors():
    cfg = desk_config()
    # one section at a time: only its queries and charts run (tabs would run all four)
    section = st.radio("Section", list(SECTIONS), key="desk_section", horizontal=True,
                       label_visibility="collapsed")
    if section == "Tide":
        _tide(cfg)
    else:
        SECTIONS[section]()
