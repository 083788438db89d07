"""Read functions and actions behind the workbench app (``primeflow_workbench``).

Every query the app shows lives here, so the CLI, the assets and the app share one definition:

* :mod:`.readcopy`: the published read copy (read-only connections opened per query, never
  held), table discovery, the "run `make demo` first" message, vendors seen.
* :mod:`.flow_views`: the latest session's signals (daily and live), a signal's order, prints,
  context, paper outcome and alerts, the strategy scorecard, unusual activity, gamma levels.
* :mod:`.backtests`: RunConfigs from the form, uploads, running and recording a run (short
  write connection to the live warehouse, then republish), stored runs, export, reproduce.
* :mod:`.tuning_views`: tuning studies, trials and verdicts when the tuner's tables exist.
* :mod:`.data_views`: what is cached per vendor, symbol and timeframe, gaps, and clearing it.

SQL values are bound parameters; table and column names come from allow-lists (the schema
declarations, fixed maps here, or ``information_schema`` for tables other code creates).
"""
