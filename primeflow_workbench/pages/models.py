"""Models: every model-lab fit, its out-of-sample scores against the three baselines,
calibration, the leakage gates, and a plain "no edge" verdict when the model does not beat its
baselines."""

from __future__ import annotations

import altair as alt
import streamlit as st

from primeflow_lib.workbench import model_views as mv
from primeflow_workbench import widgets

EMPTY = ("No model fit yet: run `primeflow model fit --symbol SPY` (or materialize "
         "research/model_fits in `make ui`), then republish the read copy.")

st.title("Models")
widgets.require_read_copy()


def _fmt(v) -> str:
    return f"{v:.3f}" if widgets.finite(v) else "n/a"


with widgets.user_errors():
    have = widgets.cached(mv.available)()
    if not have[mv.STUDIES]:
        st.info(f"{EMPTY} (research.model_studies does not exist in this read copy.)")
        st.stop()
    studies = widgets.cached(mv.studies)()
    if studies.empty:
        st.info(EMPTY)
        st.stop()
    st.subheader(f"Fits ({len(studies)})")
    st.dataframe(studies.drop(columns=["verdict"]), hide_index=True)
    labels = {r.fit_id: f"{r.fit_id} · {r.symbol} {r.timeframe} · {r.label} h={r.horizon} · {r.best_model}"
              for r in studies.itertuples()}
    fid = st.selectbox("Fit", list(labels), format_func=labels.get, key="model_fit")
    s = studies.set_index("fit_id").loc[fid]
    st.caption(f"Source: {s['source']} · {s['n_bars']} bars · label {s['label']} over {s['horizon']} bars")
    if s["edge"]:
        st.success(f"Verdict: {s['verdict']}")
    else:
        st.error(f"**No edge.** {str(s['verdict']).removeprefix('no edge: ')}")
    c = st.columns(6)
    for col, (label, key) in zip(c, (("OOS Sharpe", "oos_sharpe"), ("buy & hold", "buy_hold_sharpe"),
                                     ("PSR", "psr"), ("DSR", "dsr"), ("PBO", "pbo"), ("trials", "n_trials")),
                                 strict=True):
        col.metric(label, _fmt(s[key]) if key != "n_trials" else f"{int(s[key])}")

    st.subheader("Out of sample: models vs baselines")
    st.caption("Pooled over every walk-forward test window. The baselines are the same every time: "
               "majority class, persistence, logistic regression on the same features.")
    table = widgets.cached(mv.pooled_scores)(fid)
    st.dataframe(table, hide_index=True)
    if not table.empty:
        st.altair_chart(alt.Chart(table).mark_bar().encode(
            x=alt.X("auc:Q", scale=alt.Scale(domain=[0.4, max(0.6, float(table["auc"].max()) + 0.02)])),
            y=alt.Y("model:N", sort=list(table["model"])), color="role:N",
            tooltip=["model", "role", "auc", "log_loss", "brier"]).properties(height=160), width="stretch")

    st.subheader("Leakage gates")
    g = widgets.cached(mv.gates)(fid)
    if g.empty:
        st.info("The gates were not run for this fit (--no-gates).")
    else:
        for row in g.itertuples():
            (st.success if row.passed else st.error)(f"{row.gate}: {'PASS' if row.passed else 'FAIL'} · {row.detail}")

    st.subheader("Calibration")
    cal = widgets.cached(mv.calibration)(fid)
    if not cal.empty:
        pts = alt.Chart(cal).mark_line(point=True).encode(
            x=alt.X("predicted:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("observed:Q", scale=alt.Scale(domain=[0, 1])),
            color="model:N", tooltip=["model", "predicted", "observed", "count"])
        diag = alt.Chart(cal.assign(d=cal["predicted"])).mark_line(strokeDash=[4, 4], color="gray").encode(
            x="predicted:Q", y="d:Q")
        st.altair_chart((pts + diag).properties(height=280), width="stretch")
        st.caption("Points on the dashed line are calibrated: predicted probability = observed frequency.")

    st.subheader("Per fold")
    st.dataframe(widgets.cached(mv.fold_scores)(fid), hide_index=True)
    imp = widgets.cached(mv.importances)(fid, s["best_model"])
    if not imp.empty:
        st.subheader(f"Feature importances ({s['best_model']}, mean over folds)")
        st.dataframe(imp.head(20), hide_index=True)
    sig = widgets.cached(mv.signals)(fid, s["best_model"])
    if not sig.empty:
        st.subheader(f"OOS signal of {s['best_model']}")
        st.line_chart(sig.set_index("ts")["signal"], height=200)
