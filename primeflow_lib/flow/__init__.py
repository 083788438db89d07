"""Options-flow intelligence: option symbols, print classification, context, strategies, scoring.

Entry points (the manual is ``docs/flow.md``):

* :func:`primeflow_lib.flow.engine.score_batch` -> :class:`~primeflow_lib.flow.engine.FlowResult`
  (events, context, signals, quarantine, stats), for daily partitions and near-live batches;
* :func:`primeflow_lib.flow.heartbeat.heartbeat_row` for ``live.heartbeat``;
* :mod:`primeflow_lib.flow.paper` for ``live.paper_positions``.

Modules: ``symbols`` (OCC parser), ``conditions`` (OPRA condition ids), ``validate`` (per-row
rules -> quarantine), ``side`` (aggressor side), ``classify`` (prints -> orders), ``context``
(market context), ``scoring`` (shared score and tags), ``strategies`` (gates), ``engine``.
"""
