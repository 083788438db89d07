"""Regimes: the MFT regime probabilities per bar, the HMM states (filtered posteriors only) and
their comparison with MFT, and the weights of the MFT blender (the regime-weighted blend) over
time."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import streamlit as st

from primeflow_lib.workbench import model_views as mv
from primeflow_workbench import widgets

st.title("Regimes")
widgets.require_read_copy()

with widgets.user_errors():
    have = widgets.cached(mv.available)()
    symbols = widgets.cached(mv.regime_symbols)()
    if not symbols:
        st.info("No MFT regimes yet: run `make demo` (research/regimes), then republish the read copy.")
    else:
        sym = st.selectbox("Symbol", symbols, key="reg_symbol")
        probs = widgets.cached(mv.mft_probabilities)(sym)
        st.subheader(f"MFT regime probabilities · {sym}")
        long = probs.melt(id_vars=["ts"], value_vars=[c for c in probs.columns if c.startswith("p_")],
                          var_name="regime", value_name="probability")
        st.altair_chart(alt.Chart(long).mark_area().encode(
            x=alt.X("ts:T", title=None), y=alt.Y("probability:Q", stack="normalize"), color="regime:N",
            tooltip=["ts:T", "regime:N", alt.Tooltip("probability:Q", format=".2f")]).properties(height=220),
            width="stretch")
        w = widgets.cached(mv.blend_weights)(sym)
        st.subheader("MFT blender: regime-weighted blend weights over time")
        if w.empty:
            st.info("No regime_weighted blend stored for this symbol (research.blends).")
        else:
            st.caption("Each indicator's weight is its regime rows mixed by the MFT probabilities of the bar "
                       "(HIGH_VOL: stand aside).")
            st.altair_chart(alt.Chart(w).mark_line().encode(
                x=alt.X("ts:T", title=None), y="weight:Q", color="indicator:N",
                tooltip=["ts:T", "indicator:N", alt.Tooltip("weight:Q", format=".3f")]).properties(height=220),
                width="stretch")

    st.subheader("Hidden-Markov regimes")
    if not have[mv.HMM_FITS]:
        st.info("No HMM fit yet: run `primeflow model hmm --symbol SPY`, then republish the read copy.")
        st.stop()
    fits = widgets.cached(mv.hmm_fits)()
    if fits.empty:
        st.info("No HMM fit yet: run `primeflow model hmm --symbol SPY`, then republish the read copy.")
        st.stop()
    labels = {r.hmm_id: f"{r.hmm_id} · {r.symbol} {r.timeframe} · k={r.k}" for r in fits.itertuples()}
    hid = st.selectbox("HMM fit", list(labels), format_func=labels.get, key="reg_hmm")
    f = fits.set_index("hmm_id").loc[hid]
    st.caption(f"k = {f['k']} by BIC {f['bic']} · states ordered by volatility (0 = calmest) · only the "
               f"filtered (causal) posterior is used; the smoothed one (hmmlearn's predict_proba) would "
               f"have changed the state on {f['smoothed_disagreement']:.1%} of these OOS bars")
    sep = json.loads(f["separation"])
    st.dataframe(pd.DataFrame([{"model": m, "states": v["states"], "eta2_forward_return": v["eta2_return"],
                                "eta2_forward_vol": v["eta2_vol"]} for m, v in sep.items()]), hide_index=True)
    per = pd.DataFrame([{"model": m, **r} for m, v in sep.items() for r in v["per_state"]])
    st.dataframe(per, hide_index=True)
    states = widgets.cached(mv.hmm_states)(hid)
    if not states.empty:
        pcols = [c for c in states.columns if c.startswith("p_state_")]
        lg = states.melt(id_vars=["ts"], value_vars=pcols, var_name="state", value_name="probability")
        st.altair_chart(alt.Chart(lg).mark_area().encode(
            x=alt.X("ts:T", title=None), y=alt.Y("probability:Q", stack="normalize"), color="state:N",
            tooltip=["ts:T", "state:N", alt.Tooltip("probability:Q", format=".2f")]).properties(height=220),
            width="stretch")
        st.dataframe(pd.crosstab(states["state"], states["mft_regime"].fillna("warm-up")), width="stretch")
