"""Data: what is cached per vendor, symbol and timeframe (the ``primeflow cache list`` view),
sessions missing inside each series' span, clearing with a confirmation that names the rows and
dates, and fetching a symbol in the background."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from primeflow_lib.market.cache import TIMEFRAMES
from primeflow_lib.market.fetch import FETCH_TIMEFRAMES, FetchError
from primeflow_lib.vendors import VENDOR_CLASSES
from primeflow_lib.workbench import data_views as dv
from primeflow_lib.workbench import jobs, readcopy
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
    st.caption("Deletes stored rows from the live warehouse (the pipeline's file; the next "
               "materialization fetches them again), then republishes the read copy: the same "
               "as `primeflow cache clear`. You see exactly what will go before anything is deleted.")
    c = st.columns(5)
    tf = c[0].selectbox("Timeframe", list(TIMEFRAMES), key="clear_tf")
    vendor = c[1].selectbox("Vendor", [None, *sorted(inv["vendor"].unique())], key="clear_vendor")
    syms = sorted(inv.loc[inv["timeframe"] == tf, "symbol"].unique())
    symbol = c[2].selectbox("Symbol", [None, *syms], key="clear_symbol")
    start = c[3].date_input("From", value=None, min_value=dt.date(1900, 1, 1), key="clear_start")
    end = c[4].date_input("To", value=None, min_value=dt.date(1900, 1, 1), key="clear_end")
    if st.button("Clear ...", key="clear_ask"):
        request = dict(timeframe=tf, vendor=vendor, symbol=symbol, start=start, end=end)
        preview = dv.clear_preview(**request)  # page-term errors (no filter, From after To) show here
        st.session_state["clear_pending"] = {"request": request, "preview": preview}
    pending = st.session_state.get("clear_pending")
    if pending:
        pv = pending["preview"]
        if not pv["rows"]:
            st.info(f"Nothing to delete: {pv['what']}.")
            st.session_state.pop("clear_pending")
        else:
            st.warning(f"Delete {pv['what']} from the live warehouse? (Counted in the read copy; "
                       "the pipeline may have added rows since.)")
            c = st.columns(6)
            if c[0].button("Yes, delete", type="primary", key="clear_yes"):
                st.session_state.pop("clear_pending")
                with st.spinner("Deleting and republishing the read copy ..."):
                    n = dv.clear(**pending["request"])
                st.success(f"deleted {n:,} rows of {pv['table']}")
            if c[1].button("Cancel", key="clear_no"):
                st.session_state.pop("clear_pending")
                st.rerun()

st.subheader("Fetch a symbol")
st.caption("Stores a symbol's bars from a vendor, like `primeflow fetch` (sessions already stored "
           "are not fetched again), then republishes the read copy. It runs in the background: "
           "you can leave the page and come back.")
with widgets.user_errors():
    c = st.columns(5)
    f_symbol = c[0].text_input("Symbol", key="fetch_symbol", placeholder="e.g. IBM")
    f_start = c[1].date_input("From", value=None, min_value=dt.date(1990, 1, 1), key="fetch_start")
    f_end = c[2].date_input("To (default: the latest session)", value=None, min_value=dt.date(1990, 1, 1),
                            key="fetch_end")
    f_tf = c[3].selectbox("Timeframe", list(FETCH_TIMEFRAMES), key="fetch_tf")
    f_vendor = c[4].selectbox("Vendor", [None, *VENDOR_CLASSES], key="fetch_vendor",
                              format_func=lambda v: "configured (vendors.bars)" if v is None else v)
    if st.button("Fetch in the background", key="fetch_go"):
        if not f_symbol.strip():
            raise FetchError("Symbol: type a ticker first (e.g. IBM or BRK.B)")
        if f_start is None:
            raise FetchError("From: pick the first session to fetch")
        job = jobs.start_fetch(f_symbol.strip(), f_start, f_end, timeframe=f_tf, vendor=f_vendor)
        st.session_state["fetch_job"] = job.id
    widgets.job_status(st.session_state.get("fetch_job"), "fetch_job")
