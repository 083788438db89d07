"""``WarmRunLauncher``: Dagster runs started from a pre-loaded process, for near-live latency.

Configured in ``dagster_home/dagster.yaml``::

    run_launcher:
      module: primeflow_pipelines.launcher
      class: WarmRunLauncher
      config:
        warm_up: primeflow_pipelines.warm_up:warm_up   # optional, called once per warm worker

Why: Dagster's default launcher asks the code server to *spawn* a fresh Python process per run,
which imports Dagster and the whole code location (pandas, DuckDB, numba, the research stack)
before the first op: 8-15 s on the 2-core reference machine, more than the near-live budget
from a dropped batch file to its alert (p50 <= 6 s, p95 <= 10 s; see docs/live.md).

How: per code location the launcher keeps one warm worker
(:mod:`primeflow_pipelines.launcher_worker`) that has loaded the code location once. Each run
is a ``fork`` of it running Dagster's own ``dagster api execute_run``: one process per run as
before (same events, logs, failure handling and cancellation), but without the start-up. The
first run of a code location after the daemon (or webserver) starts waits for the worker to
load, like a normal cold start; later runs start in milliseconds. If the code changed on disk
the worker refuses, the launcher replaces it and that run waits for the reload. If the warm
worker cannot be used at all (it fails to load, or the executable cannot import PrimeFlow) the
run falls back to ``dagster api execute_run`` in a plain subprocess and says so in the run's
event log; it never fails because of the warm path.

Every run gets the tags ``primeflow/run_worker_pid`` and ``primeflow/run_worker_host``:
``terminate`` sends the worker SIGTERM (Dagster turns it into a clean cancellation) and run
monitoring can ask whether the worker is still alive. Nothing here stores secrets: the worker
inherits the environment of the process that launched it, like Dagster's own run workers.
"""

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.launcher import (
    CheckRunHealthResult,
    LaunchRunContext,
    RunLauncher,
    WorkerStatus,
)
from dagster._core.origin import get_python_environment_entry_point
from dagster._serdes import ConfigurableClass, ConfigurableClassData, serialize_value

PID_TAG = "primeflow/run_worker_pid"
HOST_TAG = "primeflow/run_worker_host"
WORKER_MODULE = "primeflow_pipelines.launcher_worker"
#: how long a run may wait for a warm worker that is still loading the code location
DEFAULT_LOAD_TIMEOUT_S = 180.0
#: after a warm worker failed, runs of that code location start cold for this long
RETRY_WARM_AFTER_S = 300.0


def _is_zombie(pid: int) -> bool:
    """The process has exited but nobody reaped it: a run process whose warm worker was replaced
    is re-parented to PID 1, which in a container often never reaps (Linux ``/proc`` only)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return False


class WarmWorkerError(RuntimeError):
    """The warm worker cannot start this run (it is then started in a plain subprocess)."""


class StaleWorkerError(WarmWorkerError):
    """The code changed on disk since the warm worker loaded it."""


class WarmWorker:
    """One pre-loaded ``launcher_worker`` process for one code location."""

    def __init__(self, origin: Any, warm_up: str | None) -> None:
        repo_origin = origin.repository_origin
        argv = [repo_origin.executable_path, "-m", WORKER_MODULE, serialize_value(origin)]
        if warm_up:
            argv += ["--warm-up", warm_up]
        workdir = getattr(repo_origin.code_pointer, "working_directory", None)
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=workdir if workdir and os.path.isdir(workdir) else None,
            text=True,
            bufsize=1,
        )
        self.started = time.monotonic()
        self.ready = False

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read_message(self, timeout_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise WarmWorkerError(f"no answer from the warm worker within {timeout_s:.0f} s")
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=5)
            raise WarmWorkerError(f"the warm worker exited (code {code}) while loading the code")
        try:
            return json.loads(line)
        except ValueError as exc:
            raise WarmWorkerError(f"unreadable answer from the warm worker: {line[:200]!r}") from exc

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the worker has loaded the code location."""
        if self.ready:
            return
        message = self._read_message(timeout_s)
        if "error" in message:
            raise WarmWorkerError(message["error"])
        if "ready" not in message:
            raise WarmWorkerError(f"unexpected first answer from the warm worker: {message}")
        self.ready = True

    def fork_run(self, payload: str, timeout_s: float) -> int:
        """Hand one serialized ``ExecuteRunArgs`` to the worker; returns the run process's pid."""
        self.wait_ready(timeout_s)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"args": payload}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WarmWorkerError(f"the warm worker is gone: {exc}") from exc
        message = self._read_message(30.0)
        if "stale" in message:
            raise StaleWorkerError(f"code changed since it was loaded: {message['stale']}")
        if "error" in message:
            raise WarmWorkerError(message["error"])
        return int(message["pid"])

    def close(self) -> None:
        """Close stdin: the worker exits; runs it started carry on."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Launch each run as a fork of a warm, pre-loaded worker (see the module docstring).

    Config (all optional):

    * ``warm_up``: ``"module:function"`` called once in each warm worker after the code is
      loaded (for example to compile numba kernels), so every run inherits the result;
    * ``load_timeout_seconds``: how long a run waits for a worker still loading the code
      location before it is started in a plain subprocess instead (default 180).
    """

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        warm_up: str | None = None,
        load_timeout_seconds: float = DEFAULT_LOAD_TIMEOUT_S,
    ) -> None:
        self._inst_data = inst_data
        self._warm_up = warm_up
        self._load_timeout_s = float(load_timeout_seconds)
        self._workers: dict[str, WarmWorker] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._cold: dict[str, subprocess.Popen] = {}
        self._run_ids: set[str] = set()
        super().__init__()

    # -- ConfigurableClass ------------------------------------------------------------------

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "warm_up": dg.Field(str, is_required=False),
            "load_timeout_seconds": dg.Field(
                float, is_required=False, default_value=DEFAULT_LOAD_TIMEOUT_S
            ),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> "WarmRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    # -- launching --------------------------------------------------------------------------

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _start_warm(self, origin: Any, payload: str) -> tuple[int, str]:
        """Fork the run from the code location's warm worker, replacing a stale or dead one."""
        key = serialize_value(origin.repository_origin)
        reloaded = ""
        with self._lock_for(key):
            failed = self._failures.get(key)
            if failed and time.monotonic() - failed[0] < RETRY_WARM_AFTER_S:
                raise WarmWorkerError(
                    f"it failed {time.monotonic() - failed[0]:.0f} s ago ({failed[1]}); "
                    f"the next attempt is {RETRY_WARM_AFTER_S:.0f} s after a failure"
                )
            for attempt in range(2):
                worker = self._workers.get(key)
                if worker is None or not worker.alive:
                    worker = self._workers[key] = WarmWorker(origin, self._warm_up)
                was_ready = worker.ready
                try:
                    pid = worker.fork_run(payload, self._load_timeout_s)
                except StaleWorkerError as exc:
                    self._workers.pop(key, None).close()
                    if attempt == 0:
                        reloaded = str(exc)
                        continue
                    raise
                except WarmWorkerError as exc:
                    self._workers.pop(key, None).close()
                    # a worker that cannot serve would otherwise be reloaded for every run
                    self._failures[key] = (time.monotonic(), str(exc))
                    raise
                self._failures.pop(key, None)
                if reloaded:
                    return pid, f"a new warm worker ({reloaded}; reloaded)"
                return pid, "the warm worker" if was_ready else "a warm worker that had to load"
        raise WarmWorkerError("unreachable")  # pragma: no cover

    def _start_cold(self, args: Any, workdir: str | None) -> int:
        """``dagster api execute_run`` in a plain subprocess: Dagster's own cold path.

        Started with the code location's interpreter (``python -m dagster``), like the warm
        worker, not with the origin's entry point: that is a bare ``dagster`` unless the
        workspace names an ``executable_path``, and ``dagster`` need not be on ``PATH`` (the
        daemon is often started as ``.venv/bin/dagster-daemon`` without activating the venv).
        """
        proc = subprocess.Popen(
            [
                *get_python_environment_entry_point(args.job_origin.executable_path),
                "api",
                "execute_run",
                serialize_value(args),
            ],
            cwd=workdir if workdir and os.path.isdir(workdir) else None,
        )
        self._cold[args.run_id] = proc
        return proc.pid

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._grpc.types import ExecuteRunArgs

        run = context.dagster_run
        origin = context.job_code_origin
        if origin is None:
            raise dg.DagsterInvariantViolationError(
                f"WarmRunLauncher: run {run.run_id} has no code origin to load the job from"
            )
        args = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()
        )
        self._reap()
        began = time.monotonic()
        try:
            pid, how = self._start_warm(origin, serialize_value(args))
        except WarmWorkerError as exc:
            workdir = getattr(origin.repository_origin.code_pointer, "working_directory", None)
            pid = self._start_cold(args, workdir)
            how = f"a new subprocess, because the warm worker could not be used: {exc}"
        self._run_ids.add(run.run_id)
        self._instance.add_run_tags(
            run.run_id, {PID_TAG: str(pid), HOST_TAG: socket.gethostname()}
        )
        self._instance.report_engine_event(
            f"Run worker pid {pid} started from {how} in {time.monotonic() - began:.2f} s.",
            run,
            cls=self.__class__,
        )

    def _reap(self) -> None:
        for run_id, proc in list(self._cold.items()):
            if proc.poll() is not None:
                del self._cold[run_id]

    # -- termination and health -------------------------------------------------------------

    def _worker_pid(self, run: Any) -> int | None:
        if run.tags.get(HOST_TAG) != socket.gethostname():
            return None
        try:
            return int(run.tags[PID_TAG])
        except (KeyError, ValueError):
            return None

    def terminate(self, run_id: str) -> bool:
        if not self.has_instance:
            return False
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        pid = self._worker_pid(run)
        if pid is None:
            self._instance.report_engine_event(
                "Cannot terminate: the run has no run-worker pid on this host.",
                run,
                cls=self.__class__,
            )
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        pid = self._worker_pid(run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no run-worker pid on this host")
        self._reap()
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} is gone")
        except PermissionError:
            pass
        if _is_zombie(pid):
            return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker pid {pid} has exited")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def join(self, timeout: int = 30) -> None:
        """Wait until every run this launcher started has finished (used by tests)."""
        if not self.has_instance:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [
                rid
                for rid in self._run_ids
                if (r := self._instance.get_run_by_id(rid)) is not None and not r.is_finished
            ]
            if not pending:
                return
            time.sleep(0.1)
        raise dg.DagsterInvariantViolationError(
            f"runs still going after {timeout} s: {', '.join(sorted(pending))}"
        )

    def dispose(self) -> None:
        for worker in list(self._workers.values()):
            worker.close()
        self._workers.clear()

