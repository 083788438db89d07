"""PrimeFlow workbench: a Streamlit app over the published read copy (``make workbench``).

A thin layer: every query and computation is in :mod:`primeflow_lib.workbench` (and the
research library it calls); these modules only lay out widgets. ``app.py`` is the entry point
(``streamlit run primeflow_workbench/app.py``), one file per page under ``pages/``, shared
widgets in ``widgets.py`` and charts in ``charts.py``.
"""
