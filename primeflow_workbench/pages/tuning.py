"""Tuning studies: the PhiAI studies, each study's trials (in-sample vs out-of-sample Sharpe),
its PSR / DSR / PBO / MinTRL and verdict, and the link to its OOS backtest."""

from __future__ import annotations

import streamlit as st

from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.workbench import backtests as bt
from primeflow_lib.workbench import jobs
from primeflow_lib.workbench import tuning_views as tv
from primeflow_workbench import charts, widgets

EMPTY = ("No tuning study yet: run `primeflow tune --symbol SPY --indicators rsi,macd` (or a "
         "RunConfig with `auto_tune: true`, or `make demo`), then republish the read copy.")

st.title("Tuning studies")
widgets.require_read_copy()

with st.expander("Start a study", expanded=not st.session_state.get("tune_job")):
    st.caption("A PhiAI study on stored daily bars, like `primeflow tune --symbol ...`: the memory "
               "estimate (trials x bars) is checked before it starts; the study and its out-of-sample "
               "run are stored in one transaction, then the read copy is republished. It runs in the "
               "background.")
    with widgets.user_errors():
        symbols = widgets.cached(bt.warehouse_symbols)()
        c = st.columns([1, 3, 1, 1, 1])
        t_symbol = c[0].selectbox("Symbol", list(symbols["ticker"]), key="tune_new_symbol")
        t_inds = c[1].multiselect("Candidate indicators", tv.tunable_indicators(),
                                  default=["rsi", "macd", "bollinger"], key="tune_new_inds")
        t_trials = c[2].number_input("Trials", min_value=1, value=2000, step=100, key="tune_new_trials")
        t_folds = c[3].number_input("Folds", min_value=1, value=3, step=1, key="tune_new_folds")
        t_seed = c[4].number_input("Seed", min_value=0, value=7, step=1, key="tune_new_seed")
        if st.button("Start the study", key="tune_new_go"):
            if not t_symbol:
                raise RunConfigError("Symbol: no daily bars in the read copy yet (fetch a symbol on "
                                        "the Data page)")
            job = jobs.start_tuning(t_symbol, tuple(t_inds), trials=int(t_trials), folds=int(t_folds),
                                    seed=int(t_seed))
            st.session_state["tune_job"] = job.id
        widgets.job_status(st.session_state.get("tune_job"), "tune_job")


def _fmt(value) -> str:
    return f"{value:.3f}" if widgets.finite(value) else "n/a"


with widgets.user_errors():
    have = widgets.cached(tv.available)()
    if not have[tv.STUDIES]:
        st.info(f"{EMPTY} (This read copy predates the tuner: research.tuning_studies does "
                "not exist in it.)")
        st.stop()
    studies = widgets.cached(tv.studies)()
    if studies.empty:
        st.info(EMPTY)
        st.stop()
    st.subheader(f"Studies ({len(studies)})")
    st.dataframe(studies, hide_index=True)
    labels = {r.study_id: f"{r.study_id} · {r.symbol} {r.timeframe} · {r.n_trials} trials · "
                          f"{r.created_at:%Y-%m-%d %H:%M}" for r in studies.itertuples()}
    sid = st.selectbox("Study", list(labels), format_func=labels.get, key="tune_study")
    study = studies.set_index("study_id").loc[sid]
    st.caption(f"{study['symbol']} {study['timeframe']} bars {study['first_bar']} .. "
               f"{study['last_bar']} ({study['n_bars']} bars) · sampler {study['sampler']} "
               f"seed {study['seed']} · budget {study['budget']} · N = {study['n_trials']} "
               f"trials (the N of DSR and PBO) · purge {study['purge']} bars")

    tuned = widgets.cached(tv.tuned_parameters)(sid)
    st.subheader("Verdict and overfitting statistics")
    if tuned.empty:
        st.info(f"No row in research.tuned_parameters for study {sid}.")
    for row in tuned.to_dict("records"):
        st.markdown(f"**{row['indicator']}** ({row['blend_mode']}) · parameters "
                    f"`{row['params']}`")
        st.info(f"Verdict: {row['verdict']}")
        c = st.columns(6)
        for col, (label, key) in zip(c, (("IS Sharpe", "is_sharpe"), ("OOS Sharpe", "oos_sharpe"),
                                         ("PSR", "psr"), ("DSR", "dsr"), ("PBO", "pbo")),
                                     strict=False):
            col.metric(label, _fmt(row[key]))
        mintrl = row["min_trl"]
        c[5].metric("MinTRL (bars)", f"{mintrl:,.0f}" if widgets.finite(mintrl) else "never",
                    help="bars of track record needed for PSR 0.95 vs 0 (never: the OOS "
                         "Sharpe is not above 0)")
        rid = row["run_id"]
        if not rid:
            st.caption("No OOS backtest was stored for this study.")
        elif widgets.cached(tv.oos_run_stored)(rid):
            st.caption(f"OOS backtest of the chosen configuration: run `{rid}`")
            if st.button(f"Open run {rid} in History", key=f"tune_open_{row['indicator']}"):
                st.session_state["hist_open"] = [rid]
                st.switch_page("pages/history.py")
        else:
            st.caption(f"OOS backtest run `{rid}` is not in research.backtest_runs of this "
                       "read copy.")

    trials = widgets.cached(tv.trials)(sid)
    if trials.empty:
        st.info(f"No trials stored for study {sid}.")
    else:
        st.subheader(f"Trials ({len(trials)}): in-sample vs out-of-sample Sharpe")
        st.caption("is_sharpe: mean train Sharpe over the folds; oos_sharpe: Sharpe of all "
                   "test windows together (both annualised). Points below the dashed y = x "
                   "line did worse out of sample.")
        pts = trials.dropna(subset=["is_sharpe", "oos_sharpe"])
        if not pts.empty:
            st.altair_chart(charts.scatter(pts, "is_sharpe", "oos_sharpe", color="indicator"),
                            width="stretch")
        st.dataframe(trials, hide_index=True)
    run_ids = [r for r in tuned["run_id"].dropna()] if not tuned.empty else []
    widgets.synthetic_notice(widgets.cached(bt.run_vendors)(run_ids), "The bars of this study")
