"""History & compare: every run in research.backtest_runs (Dagster launchpad, CLI, app),
sortable; several runs side by side with their equity curves on one chart; export a run;
reproduce a run from its stored config in one click."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from primeflow_lib.warehouse import warehouse_path
from primeflow_lib.workbench import backtests as bt
from primeflow_lib.workbench import explain
from primeflow_workbench import charts, widgets

COLUMNS = ["run_id", "created_at", "strategy", "symbol", "timeframe", "first_bar", "last_bar",
           "sharpe", "sortino", "total_return", "cagr", "max_drawdown", "win_rate", "n_trades",
           "sharpe_rank", "description", "tags"]

st.title("History & compare")
widgets.require_read_copy()

with widgets.user_errors():
    runs = widgets.cached(bt.runs)()
    if runs.empty:
        st.info("No backtest runs yet: run one on the Backtest page, with `primeflow backtest`, "
                "or from the Dagster launchpad (backtest_job).")
        st.stop()
    st.caption(f"{len(runs)} runs in research.backtest_runs. Click a column header to sort; "
               "tick rows to compare.")
    shown = runs[[c for c in COLUMNS if c in runs.columns]]
    event = st.dataframe(
        shown, hide_index=True, on_select="rerun", selection_mode="multi-row", key="hist_table",
        column_config={c: st.column_config.NumberColumn(format="percent")
                       for c in ("total_return", "cagr", "max_drawdown", "win_rate")})
    picked_rows = event.selection.rows if event is not None else []
    ids = st.multiselect("Runs to compare", runs["run_id"].tolist(),
                         # a run opened from the Tuning page arrives as hist_open
                         default=[r for r in st.session_state.pop("hist_open", [])
                                  if r in set(runs["run_id"])]
                         or [runs["run_id"].iloc[i] for i in picked_rows],
                         key="hist_pick")
    if ids:
        st.subheader("Side by side")
        st.dataframe(widgets.cached(bt.compare)(ids).astype(str))
        curves = widgets.cached(bt.equity_curves)(ids)
        label = runs.set_index("run_id")
        curves["run"] = [f"{r} {label.loc[r, 'strategy']} {label.loc[r, 'symbol']}"
                         for r in curves["run_id"]]
        curves["segment"] = ""
        for rid, part in curves.groupby("run_id", sort=False):
            seg, gaps = explain.gap_segments(part["ts"])
            curves.loc[part.index, "segment"] = [f"{rid}-{k}" for k in seg]
            if gaps:  # gaps are drawn as breaks in the lines, and said in words
                worst = max(gaps, key=lambda g: g[2])
                st.warning(f"Run {rid}: {sum(g[2] for g in gaps)} NYSE sessions missing in its bars "
                           f"({len(gaps)} gap{'s' if len(gaps) > 1 else ''}; largest {worst[2]} sessions "
                           f"between {worst[0]} and {worst[1]}).", icon=":material/warning:")
        st.altair_chart(charts.equity_chart(curves, by="run"), width="stretch")
        st.altair_chart(charts.drawdown_chart(curves, by="run"), width="stretch")

        st.subheader("One run")
        one = st.selectbox("Run", ids, key="hist_one")
        c = st.columns(2)
        if c[0].button("Export (config, results, trades, equity PNG)", key="hist_export"):
            with st.spinner("Exporting ..."):
                folder = warehouse_path().parent / "exports" / one
                files = bt.export_stored(one, folder)
            st.success(f"Exported to {explain.display_path(folder)}")
            st.download_button("Download the export (.zip)", bt.zip_folder(files),
                               file_name=f"run-{one}.zip", mime="application/zip",
                               key="hist_zip")
        if c[1].button("Reproduce from the stored config", key="hist_repro"):
            with st.spinner("Running the stored config again on the current read copy ..."):
                result, same = bt.reproduce(one)
            stored = label.loc[one]
            if same:
                st.success(f"Reproduced run {one}: same config and same data hash "
                           f"({result.data_hash}), so the numbers are identical.")
            else:
                st.warning(f"Run {one} ran again on different bars (data hash "
                           f"{result.data_hash} vs stored {stored['data_hash']}): the data "
                           "changed since it was recorded.")
            compare = pd.DataFrame({"stored": {m: stored.get(m) for m in
                                               ("sharpe", "total_return", "max_drawdown",
                                                "n_trades", "final_equity")},
                                    "reproduced": {m: result.metrics.get(m) for m in
                                                   ("sharpe", "total_return", "max_drawdown",
                                                    "n_trades", "final_equity")}})
            st.dataframe(compare.astype(str))
        widgets.synthetic_notice(widgets.cached(bt.run_vendors)(ids), "The bars of these runs")
