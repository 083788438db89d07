"""Data: what is cached per vendor, symbol and timeframe (the ``primeflow cache list`` view),
sessions missing inside each series' span, and clearing with a confirmation."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from primeflow_lib.market.cache import TIMEFRAMES
from primeflow_lib.workbench import data_views as dv
from primeflow_lib.workbench import readcopy
from primeflow_workbench import widgets

st.title("Data")
widgets.require_read_copy()

with widgets.user_errors():
    inv = widgets.cached(dv.inventory)()
    if inv.empty:
        st.info("Nothing is cached yet: run `make demo` or materialize the market assets.")
        st.stop()
    widgets.synthetic_notice(readcopy.vendors(inv), "These cached rows")
    c = st.columns(3)
    tfs = c[0].multiselect("Timeframe", list(TIMEFRAMES), key="data_tf")
    vendors = c[1].multiselect("Vendor", sorted(inv["vendor"].unique()), key="data_vendor")
    only_gaps = c[2].checkbox("only series with gaps", key="data_gaps")
    view = inv
    if tfs:
        view = view[view["timeframe"].isin(tfs)]
    if vendors:
        view = view[view["vendor"].isin(vendors)]
    if only_gaps:
        view = view[view["gaps"] > 0]
    st.caption("One row per (timeframe, vendor, symbol). gaps = NYSE sessions missing between "
               "the first and last stored session (for `universe`, days the ticker was not in "
               "the top N).")
    st.dataframe(view, hide_index=True, key="data_table",
                 column_config={"rows": st.column_config.NumberColumn(format="%d")})

    st.subheader("Clear cached rows")
    st.caption("Deletes stored rows (the next materialization fetches them again), then "
               "republishes the read copy: the same as `primeflow cache clear`.")
    c = st.columns(5)
    tf = c[0].selectbox("Timeframe", list(TIMEFRAMES), key="clear_tf")
    vendor = c[1].selectbox("Vendor", [None, *sorted(inv["vendor"].unique())], key="clear_vendor")
    syms = sorted(inv.loc[inv["timeframe"] == tf, "symbol"].unique())
    symbol = c[2].selectbox("Symbol", [None, *syms], key="clear_symbol")
    start = c[3].date_input("From", value=None, min_value=dt.date(1900, 1, 1), key="clear_start")
    end = c[4].date_input("To", value=None, min_value=dt.date(1900, 1, 1), key="clear_end")
    target = inv[(inv["timeframe"] == tf) & ((inv["vendor"] == vendor) if vendor else True)
                 & ((inv["symbol"] == symbol) if symbol else True)]
    if st.button("Clear ...", key="clear_ask"):
        st.session_state["clear_pending"] = dict(timeframe=tf, vendor=vendor, symbol=symbol,
                                                 start=start, end=end)
    pending = st.session_state.get("clear_pending")
    if pending:
        st.warning(f"Delete {pending['timeframe']} rows (vendor={pending['vendor']}, "
                   f"symbol={pending['symbol']}, {pending['start']} .. {pending['end']}) from "
                   f"the live warehouse? Up to {int(target['rows'].sum()):,} rows in "
                   f"{len(target)} series match before the date filter.")
        c = st.columns(6)
        if c[0].button("Yes, delete", type="primary", key="clear_yes"):
            st.session_state.pop("clear_pending")
            with st.spinner("Deleting and republishing the read copy ..."):
                n = dv.clear(**pending)
            st.success(f"deleted {n:,} rows")
        if c[1].button("Cancel", key="clear_no"):
            st.session_state.pop("clear_pending")
            st.rerun()
