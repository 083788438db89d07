"""System: the pipeline's heartbeat, Dagster's last runs and last materialization per asset,
sensor lag, alert delivery counts and today's quarantine counts."""

from __future__ import annotations

import streamlit as st

from primeflow_lib.workbench import system_views as sv
from primeflow_workbench import widgets

st.title("System")
widgets.require_read_copy()

with widgets.user_errors():
    st.subheader("Pipeline heartbeat")
    hb = widgets.cached(sv.heartbeat)()
    if hb.empty:
        st.info("No heartbeat yet (live.heartbeat is written by every scored batch).")
    else:
        last = hb.iloc[0]
        c = st.columns(4)
        c[0].metric("last batch", str(last["ts"])[:19])
        c[1].metric("processing lag", f"{last['lag_seconds']:,.0f} s" if widgets.finite(last["lag_seconds"]) else "n/a")
        c[2].metric("signals", int(last["signals"]))
        c[3].metric("quarantined", int(last["quarantined"]))
        if last["last_error"]:
            st.error(f"Last error: {last['last_error']}")
        st.dataframe(hb, hide_index=True)

    home = sv.dagster_home()
    st.subheader("Dagster")
    st.caption(f"Instance: `{home}`" if home else "DAGSTER_HOME is not set: no Dagster history to show.")
    daemons = sv.daemon_heartbeats()
    if daemons.empty:
        st.info("No daemon heartbeat: the Dagster daemon is not running (`make ui` starts it).")
    else:
        st.dataframe(daemons, hide_index=True)
    runs = sv.last_runs()
    st.markdown("**Last runs**")
    if runs.empty:
        st.info("No runs in this instance yet.")
    else:
        st.dataframe(runs, hide_index=True)
    mats = sv.materializations()
    st.markdown("**Last materialization per asset**")
    if mats.empty:
        st.info("No asset has been materialized in this instance yet.")
    else:
        st.dataframe(mats, hide_index=True)
    lag = sv.sensor_lag()
    st.markdown("**Sensors**")
    if lag.empty:
        st.info("No sensor has ticked (the daemon is not running, or no sensor is switched on).")
    else:
        st.dataframe(lag, hide_index=True)

    st.subheader("Alerts (today, UTC)")
    al = widgets.cached(sv.alert_counts)()
    if al.empty:
        st.info("No alert outbox in this read copy.")
    else:
        st.dataframe(al, hide_index=True)
    st.subheader("Quarantine (today, UTC)")
    q = widgets.cached(sv.quarantine_counts)()
    if q.empty:
        st.info("No quarantine table in this read copy.")
    else:
        st.metric("rows quarantined today", int(q["today"].sum()))
        st.dataframe(q, hide_index=True)
