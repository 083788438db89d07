"""PrimeFlow workbench entry point: ``streamlit run primeflow_workbench/app.py`` (``make
workbench``). Registers the pages and the sidebar that says which warehouse is shown."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from primeflow_lib.workbench import readcopy
from primeflow_workbench import widgets

HERE = Path(__file__).parent

st.set_page_config(page_title="PrimeFlow workbench", page_icon=":material/insights:",
                   layout="wide")

PAGES = [
    st.Page(HERE / "pages" / "flow_today.py", title="Flow today", icon=":material/bolt:",
            default=True),
    st.Page(HERE / "pages" / "tape.py", title="Tape", icon=":material/receipt_long:", url_path="tape"),
    st.Page(HERE / "pages" / "desk.py", title="Market desk", icon=":material/monitoring:", url_path="desk"),
    st.Page(HERE / "pages" / "rules.py", title="Alert rules", icon=":material/notifications:",
            url_path="rules"),
    st.Page(HERE / "pages" / "backtest.py", title="Backtest", icon=":material/science:",
            url_path="backtest"),
    st.Page(HERE / "pages" / "history.py", title="History & compare",
            icon=":material/history:", url_path="history"),
    st.Page(HERE / "pages" / "tuning.py", title="Tuning studies", icon=":material/tune:",
            url_path="tuning"),
    st.Page(HERE / "pages" / "data.py", title="Data", icon=":material/storage:",
            url_path="data"),
    st.Page(HERE / "pages" / "models.py", title="Models", icon=":material/model_training:",
            url_path="models"),
    st.Page(HERE / "pages" / "regimes.py", title="Regimes", icon=":material/stacked_line_chart:",
            url_path="regimes"),
    st.Page(HERE / "pages" / "system.py", title="System", icon=":material/monitor_heart:",
            url_path="system"),
]

page = st.navigation(PAGES)

with st.sidebar:
    st.caption("PrimeFlow workbench · reads the published read copy")
    path = readcopy.resolve()
    if path.is_file():
        st.caption(f"`{path}`")
        with widgets.user_errors():
            vendors = widgets.cached(readcopy.warehouse_vendors)()
            if readcopy.is_synthetic(v for vs in vendors.values() for v in vs):
                st.warning("This warehouse holds synthetic data.", icon=":material/science:")
    else:
        st.caption(f"`{path}` (not built yet)")

page.run()
