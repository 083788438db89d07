"""Tuning studies: trials, in-sample vs out-of-sample, PSR / DSR / PBO and the verdict, read
from the tuner's tables (an empty state until they exist)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from primeflow_lib.workbench import readcopy
from primeflow_lib.workbench import tuning_views as tv
from primeflow_workbench import charts, widgets

st.title("Tuning studies")
widgets.require_read_copy()

with widgets.user_errors():
    have = widgets.cached(tv.available)()
    if not have[tv.STUDIES]:
        st.info("No tuning studies yet: research.tuning_studies does not exist in this "
                "warehouse. Run `primeflow tune` (or a RunConfig with `auto_tune: true`), then "
                "republish.")
        st.stop()
    studies = widgets.cached(tv.studies)()
    if studies is None or studies.empty:
        st.info("research.tuning_studies is empty: no study has been run yet.")
        st.stop()
    widgets.synthetic_notice(readcopy.vendors(studies), "The bars behind these studies")
    st.dataframe(studies, hide_index=True)
    key = tv.STUDY_KEY if tv.STUDY_KEY in studies.columns else studies.columns[0]
    sid = st.selectbox("Study", studies[key].astype(str).tolist(), key="tune_study")
    row = studies[studies[key].astype(str) == sid].iloc[0].to_dict()
    stats = tv.study_stats(row)
    if stats:
        st.subheader("Overfitting statistics and verdict")
        cols = st.columns(min(len(stats), 6))
        for i, (name, value) in enumerate(stats.items()):
            text = f"{value:.3f}" if widgets.finite(value) else str(value)
            cols[i % len(cols)].metric(name, text)
    trials = widgets.cached(tv.trials)(sid)
    if trials is None:
        st.info("research.tuning_trials does not exist yet.")
    elif trials.empty:
        st.info(f"No trials stored for study {sid}.")
    else:
        st.subheader(f"Trials ({len(trials)})")
        pairs = tv.is_oos_pairs(list(trials.columns))
        if pairs:
            metric = st.selectbox("In-sample vs out-of-sample", [p[0] for p in pairs],
                                  key="tune_metric")
            _, x, y = next(p for p in pairs if p[0] == metric)
            pts = trials.dropna(subset=[x, y])
            if not pts.empty:
                st.altair_chart(charts.scatter(pts, x, y), width="stretch")
        st.dataframe(trials, hide_index=True)
    tuned = widgets.cached(tv.tuned_parameters)(sid)
    if tuned is not None and not tuned.empty:
        st.subheader("Tuned parameters")
        st.dataframe(pd.DataFrame(tuned), hide_index=True)
