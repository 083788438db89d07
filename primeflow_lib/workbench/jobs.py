"""Background work started from the workbench: fetching a symbol and running a tuning study.

A page starts a job and returns at once; the job runs on a thread of the workbench process and
records its progress (a fraction and the lines it printed), its result and, on failure, its
one-line message (the library's typed error text; never a traceback). Pages poll
:func:`get` / :func:`jobs` to draw a progress bar. Jobs live as long as the workbench process
(the list is in memory; what they store is in the warehouse).

Both jobs call the same library functions as the CLI: ``primeflow fetch``
(:func:`primeflow_lib.market.fetch.fetch_symbol`, then republishing the read copy) and
``primeflow tune`` (:func:`primeflow_lib.research.dataset.load_bars` from the read copy,
:func:`~primeflow_lib.research.tuning.study.phiai_full_auto` with its memory check and a
progress callback, :func:`~primeflow_lib.research.tuning.store.write_study` in one transaction
on a short write connection, then republishing).
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from primeflow_lib.redact import shorten

#: errors whose text is meant for people (the CLI prints the same); anything else is reported
#: as an internal error with its type, still in one line
_USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError, KeyError, OSError)


@dataclass
class Job:
    """One piece of background work and what is known about it so far."""

    id: int
    kind: str
    label: str
    status: str = "running"  # running | done | failed
    progress: float = 0.0
    lines: list[str] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def say(self, line: str) -> None:
        self.lines.append(line)

    @property
    def running(self) -> bool:
        return self.status == "running"


_JOBS: dict[int, Job] = {}
_IDS = itertools.count(1)
_LOCK = threading.Lock()


def start(kind: str, label: str, work: Callable[[Job], Any]) -> Job:
    """Run ``work(job)`` on a daemon thread; returns the job at once."""
    with _LOCK:
        job = Job(id=next(_IDS), kind=kind, label=label)
        _JOBS[job.id] = job

    def run() -> None:
        try:
            job.result = work(job)
            job.progress = 1.0
            job.status = "done"
        except _USER_ERRORS as exc:
            job.error = shorten(exc, 600)
            job.status = "failed"
        except Exception as exc:  # noqa: BLE001 - one line for the page, never a traceback
            job.error = f"internal error: {type(exc).__name__}: {shorten(exc, 500)}"
            job.status = "failed"
        finally:
            job.finished = time.time()

    threading.Thread(target=run, name=f"workbench-{kind}-{job.id}", daemon=True).start()
    return job


def get(job_id: int) -> Job | None:
    """The job with this id (None when unknown, e.g. after the workbench restarted)."""
    return _JOBS.get(job_id)


def jobs(kind: str | None = None) -> list[Job]:
    """Jobs of ``kind`` (all when None), newest first."""
    return sorted((j for j in _JOBS.values() if kind is None or j.kind == kind), key=lambda j: -j.id)


def wait(job: Job, timeout_s: float = 600.0) -> Job:
    """Block until ``job`` ends (for tests and scripts)."""
    deadline = time.monotonic() + timeout_s
    while job.running and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def start_fetch(symbol: str, start_date: dt.date, end_date: dt.date | None = None, *,
                timeframe: str = "1d", vendor: str | None = None) -> Job:
    """``primeflow fetch`` in the background, then republish the read copy."""

    def work(job: Job) -> Any:
        from primeflow_lib.config import load_config
        from primeflow_lib.market.fetch import fetch_symbol
        from primeflow_lib.warehouse import publish_read_copy

        report = fetch_symbol(load_config(), symbol, start_date, end_date, timeframe=timeframe,
                              vendor=vendor, echo=job.say)
        for line in report.lines():
            job.say(line)
        if report.rows:
            job.progress = 0.9
            job.say("republishing the read copy ...")
            publish_read_copy()
        return report

    return start("fetch", f"fetch {symbol.upper()} {timeframe} from {start_date}", work)


def start_tuning(symbol: str, indicators: tuple[str, ...], *, trials: int = 2000, folds: int = 3,
                 seed: int = 7, sampler: str = "sobol", start_date: dt.date | None = None,
                 end_date: dt.date | None = None, memory_mb: float | None = None) -> Job:
    """``primeflow tune --symbol ...`` in the background: the study, then the study and its OOS
    run stored in one transaction, then the read copy republished. The tune config is checked
    before the job starts (a bad value raises here, on the page)."""
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning import FoldSpec, TuneConfig

    tc = TuneConfig(indicators=tuple(indicators), trials=int(trials), sampler=sampler, seed=int(seed),
                    folds=FoldSpec(n_folds=int(folds)))
    cfg = RunConfig.from_dict({"dataset": {
        "symbol": symbol.upper(), "start": start_date.isoformat() if start_date else None,
        "end": end_date.isoformat() if end_date else None}})

    def work(job: Job) -> Any:
        from primeflow_lib import warehouse
        from primeflow_lib.research.dataset import load_bars
        from primeflow_lib.research.tuning import phiai_full_auto, write_study

        bars = load_bars(cfg)
        for note in bars.attrs.get("notes") or []:
            job.say(f"note: {note}")
        job.say(f"{len(bars):,} bars of {cfg.dataset.symbol}; {tc.trials:,} trials over {', '.join(tc.indicators)}")
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            job.progress = 0.85 * done[0] / tc.trials

        study = phiai_full_auto(bars, tc, cfg, progress=tick, memory_budget_mb=memory_mb)
        job.progress = 0.85
        job.say(f"study {study.study_id}: {study.verdict}; storing it and its OOS run ...")
        with warehouse.connect() as con:
            write_study(con, study, bars)
            job.progress = 0.95
            job.say("republishing the read copy ...")
            warehouse.publish_read_copy(con=con)
        return study

    return start("tune", f"tune {cfg.dataset.symbol}: {', '.join(tc.indicators)}, {tc.trials:,} trials", work)
