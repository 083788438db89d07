"""``WarmRunLauncher`` for real: a real Dagster instance configured with it, a small code location
written into the test's folder, runs launched through ``instance.launch_run`` and executed by
real run-worker processes forked from a real warm worker (or, in the fallback, a plain
``dagster api execute_run`` subprocess). Nothing of the launcher is mocked; only the fallback
test points ``WORKER_MODULE`` at a module that does not exist. The test code location prints on
stdout while it loads, as user code may: the warm worker must keep that out of its answers.

Every test that starts processes goes through the ``harness`` fixture, which at the end kills
any run process still alive, fails the runs it interrupted, disposes of the launcher (its warm
workers exit) and kills and reaps any fallback subprocess left.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterRun, DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.test_utils import (
    in_process_test_workspace,
    instance_for_test,
    poll_for_finished_run,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_pipelines import launcher as launcher_module
from primeflow_pipelines.launcher import HOST_TAG, PID_TAG, WarmRunLauncher
from primeflow_pipelines.launcher_worker import changed_file, project_module_files
from primeflow_pipelines.warm_up import sample_prints, warm_up

LAUNCHER_CONFIG = {
    "run_launcher": {"module": "primeflow_pipelines.launcher", "class": "WarmRunLauncher"}
}

#: the test code location; ``{version}`` changes when a test rewrites it
CODE = """
import time

import dagster as dg

VERSION = {version}

# noise on stdout while the code loads: the warm worker must keep its answers apart from it
print(f"test code location version {{VERSION}} loading")


@dg.op
def hello(context):
    context.log.info(f"code version {{VERSION}}")
    return VERSION


@dg.job(executor_def=dg.in_process_executor)
def trivial():
    hello()


@dg.op
def nap():
    time.sleep(60)


@dg.job(executor_def=dg.in_process_executor)
def slow():
    nap()


defs = dg.Definitions(jobs=[trivial, slow])
"""

#: a finished trivial run takes ~1-3 s warm and ~5 s cold; generous for a loaded CI machine
RUN_TIMEOUT_S = 90


def _pid_gone(pid: int) -> bool:
    """No such process, or only a zombie left of it (PID 1 here does not reap orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _pid_gone(pid):
            return True
        time.sleep(0.05)
    return _pid_gone(pid)


class Harness:
    """A Dagster instance with WarmRunLauncher and a workspace on the test code location."""

    def __init__(self, instance, workspace, code_file: Path) -> None:
        self.instance = instance
        self.workspace = workspace
        self.code_file = code_file
        entry = next(iter(workspace.get_code_location_entries().values()))
        assert entry.code_location, entry.load_error
        self.location = entry.code_location
        self.repo = next(iter(self.location.get_repositories().values()))

    @property
    def launcher(self) -> WarmRunLauncher:
        launcher = self.instance.run_launcher
        assert isinstance(launcher, WarmRunLauncher)
        return launcher

    def launch(self, job_name: str) -> str:
        """Create a run of ``job_name`` as ``dagster job launch`` does and launch it."""
        job = self.repo.get_full_job(job_name)
        plan = self.location.get_execution_plan(
            job, {}, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config={},
            resolved_op_selection=None,
            step_keys_to_execute=None,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={},
            job_snapshot=job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=None,
            remote_job_origin=job.get_remote_origin(),
            job_code_origin=job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=self.repo.asset_graph,
        )
        self.instance.launch_run(run.run_id, self.workspace)
        return run.run_id

    def run(self, job_name: str = "trivial") -> DagsterRun:
        """Launch ``job_name`` and wait until the run has finished."""
        return self.finished(self.launch(job_name))

    def finished(self, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> DagsterRun:
        return poll_for_finished_run(self.instance, run_id, timeout=timeout_s)

    def wait_started(self, run_id: str, timeout_s: float = RUN_TIMEOUT_S) -> DagsterRun:
        """Wait until the run is STARTED and its op is running (so it is sleeping in ``nap``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.instance.get_run_by_id(run_id)
            assert run is not None
            assert not run.is_finished, f"run ended {run.status} before it was seen running"
            if run.status == DagsterRunStatus.STARTED and self.engine_messages(
                run_id, event_type="STEP_START"
            ):
                return run
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} not started after {timeout_s} s")

    def engine_messages(self, run_id: str, event_type: str = "ENGINE_EVENT") -> list[str]:
        return [
            r.dagster_event.message or ""
            for r in self.instance.all_logs(run_id)
            if r.is_dagster_event and r.dagster_event.event_type_value == event_type
        ]

    def launcher_message(self, run_id: str) -> str:
        """The one engine event WarmRunLauncher reported for the run."""
        messages = [m for m in self.engine_messages(run_id) if m.startswith("[WarmRunLauncher]")]
        assert len(messages) == 1, messages
        return messages[0]

    def process_pid(self, run_id: str) -> int:
        """The pid Dagster's own run worker reports ("Started process for run (pid: N)")."""
        pids = [
            int(m.group(1))
            for msg in self.engine_messages(run_id)
            if (m := re.search(r"Started process for run \(pid: (\d+)\)", msg))
        ]
        assert len(pids) == 1, self.engine_messages(run_id)
        return pids[0]

    def logs_text(self, run_id: str) -> str:
        return "\n".join(r.user_message or "" for r in self.instance.all_logs(run_id))

    def rewrite_code(self, version: int) -> None:
        """New content and a modification time clearly later than before."""
        before = self.code_file.stat().st_mtime_ns
        self.code_file.write_text(CODE.format(version=version))
        later = max(self.code_file.stat().st_mtime_ns, before + 2_000_000_000)
        os.utime(self.code_file, ns=(later, later))

    def cleanup(self) -> None:
        launcher = self.instance.run_launcher
        leftover = []
        # only runs still going: a finished run's pid may already belong to someone else
        for run in self.instance.get_runs():
            pid = run.tags.get(PID_TAG)
            if pid and not run.is_finished and not _pid_gone(int(pid)):
                leftover.append(int(pid))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for pid in leftover:
            _wait_gone(pid)
        for run in self.instance.get_runs():
            if not run.is_finished:
                self.instance.report_run_failed(run)
        workers = [w.proc for w in getattr(launcher, "_workers", {}).values()]
        cold = list(getattr(launcher, "_cold", {}).values())
        launcher.dispose()
        for proc in workers + cold:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def harness(tmp_path) -> Iterator[Harness]:
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    code_file = code_dir / "warm_launcher_location.py"
    code_file.write_text(CODE.format(version=1))
    origin = LoadableTargetOrigin(
        executable_path=sys.executable,
        python_file=str(code_file),
        working_directory=str(code_dir),
    )
    with (
        instance_for_test(
            overrides=LAUNCHER_CONFIG, temp_dir=str(tmp_path / "dagster_home")
        ) as instance,
        in_process_test_workspace(instance, origin) as workspace,
    ):
        h = Harness(instance, workspace, code_file)
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        try:
            yield h
        finally:
            h.cleanup()


# ------------------------------------------------------------------------------------------
# runs through the instance


def test_runs_are_forked_from_one_warm_worker(harness):
    first = harness.run()
    began = time.monotonic()
    second_id = harness.launch("trivial")
    launch_s = time.monotonic() - began
    second = harness.finished(second_id)

    pids = []
    for run in (first, second):
        assert run.status == DagsterRunStatus.SUCCESS, harness.engine_messages(run.run_id)
        assert run.tags[HOST_TAG] == socket.gethostname()
        pid = int(run.tags[PID_TAG])
        # the tagged pid is the process that ran the run (Dagster's own run worker says so)
        assert harness.process_pid(run.run_id) == pid
        assert f"pid {pid}" in harness.launcher_message(run.run_id)
        assert "code version 1" in harness.logs_text(run.run_id)
        pids.append(pid)

    assert "started from a warm worker that had to load" in harness.launcher_message(first.run_id)
    assert "started from the warm worker in" in harness.launcher_message(second.run_id)
    # one process per run, neither of them the warm worker nor this test
    assert pids[0] != pids[1]
    workers = list(harness.launcher._workers.values())
    assert len(workers) == 1 and workers[0].alive
    assert workers[0].proc.pid not in pids and os.getpid() not in pids
    # the warm path does not wait for a process start-up (a cold one takes seconds)
    assert launch_s < 5, launch_s


@pytest.mark.slow  # ~7 s alone, 10-16 s under -n 2 on 2 cores: two worker loads, three runs
def test_changed_code_is_reloaded_before_the_next_run(harness):
    first = harness.run()
    assert first.status == DagsterRunStatus.SUCCESS
    harness.rewrite_code(version=2)

    second = harness.run()
    assert second.status == DagsterRunStatus.SUCCESS, harness.engine_messages(second.run_id)
    message = harness.launcher_message(second.run_id)
    assert "reloaded" in message and "code changed since it was loaded" in message
    assert os.path.realpath(harness.code_file) in message
    # the run executed the new code, not the warm worker's copy of the old one
    assert "code version 2" in harness.logs_text(second.run_id)

    # the replacement worker is kept warm for the runs after it
    third = harness.run()
    assert third.status == DagsterRunStatus.SUCCESS
    assert "started from the warm worker in" in harness.launcher_message(third.run_id)
    assert "code version 2" in harness.logs_text(third.run_id)


def test_terminate_cancels_a_running_run(harness):
    run_id = harness.launch("slow")
    run = harness.wait_started(run_id)
    pid = int(run.tags[PID_TAG])

    began = time.monotonic()
    assert harness.launcher.terminate(run_id) is True
    ended = harness.finished(run_id, timeout_s=30)
    assert ended.status == DagsterRunStatus.CANCELED, harness.engine_messages(run_id)
    assert time.monotonic() - began < 30
    assert _wait_gone(pid), f"run worker {pid} still alive after its run was canceled"
    # a finished run cannot be terminated again
    assert harness.launcher.terminate(run_id) is False


def test_falls_back_to_a_plain_subprocess_when_the_warm_worker_cannot_be_used(harness, monkeypatch):
    monkeypatch.setattr(launcher_module, "WORKER_MODULE", "primeflow_pipelines.no_such_worker")
    run = harness.run()
    assert run.status == DagsterRunStatus.SUCCESS, harness.engine_messages(run.run_id)
    message = harness.launcher_message(run.run_id)
    assert "a new subprocess, because the warm worker could not be used" in message
    assert "exited" in message
    pid = int(run.tags[PID_TAG])
    assert harness.process_pid(run.run_id) == pid
    assert run.tags[HOST_TAG] == socket.gethostname()
    assert "code version 1" in harness.logs_text(run.run_id)
    # the broken worker is not kept around
    assert harness.launcher._workers == {}

    # nor reloaded for every run: the next one starts cold at once and says why
    second = harness.run()
    assert second.status == DagsterRunStatus.SUCCESS
    message = harness.launcher_message(second.run_id)
    assert "could not be used: it failed" in message and "s ago" in message
    assert harness.launcher._workers == {}


@pytest.mark.slow  # ~8 s alone, 12-15 s under -n 2 on 2 cores: two worker loads, two runs
def test_health_check_follows_the_run_worker_process(harness):
    run_id = harness.launch("slow")
    run = harness.wait_started(run_id)
    pid = int(run.tags[PID_TAG])

    health = harness.launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.RUNNING, health.msg

    # the code changes and the next run replaces the warm worker: the slow run's process
    # outlives its parent (where PID 1 does not reap orphans, it then dies as a zombie)
    harness.rewrite_code(version=2)
    other = harness.run()
    assert other.status == DagsterRunStatus.SUCCESS
    assert "reloaded" in harness.launcher_message(other.run_id)
    assert harness.launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING

    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    health = harness.launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED
    assert str(pid) in (health.msg or "")

    # a run without a worker pid on this host is not judged
    assert harness.launcher.supports_check_run_worker_health
    other_host = run.with_tags({**run.tags, HOST_TAG: "some-other-host"})
    assert harness.launcher.check_run_worker_health(other_host).status == WorkerStatus.UNKNOWN
    harness.instance.report_run_failed(run)


# ------------------------------------------------------------------------------------------
# in-process pieces


def test_warm_up_scores_the_sample_batch(capsys):
    frame = sample_prints()
    assert list(frame.columns) == OPTION_PRINTS.column_names
    required = [c.name for c in OPTION_PRINTS.columns if not c.nullable]
    assert not frame[required].isna().any().any()
    assert frame["print_id"].is_unique and len(frame) == 40

    warm_up()  # never raises by design: what it reports is what can fail
    err = capsys.readouterr().err
    assert "warm-up failed" not in err, err
    assert re.search(r"primeflow warm-up: scored 40 prints -> \d+ orders", err), err


def test_project_module_files_reports_a_changed_module(tmp_path, monkeypatch):
    name = "pf_launcher_probe_module"
    module_file = tmp_path / f"{name}.py"
    module_file.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.import_module(name)
    try:
        files = project_module_files()
    finally:
        sys.modules.pop(name, None)

    real = os.path.realpath(module_file)
    assert real in files
    # the project's own modules are tracked, installed packages are not
    assert os.path.realpath(launcher_module.__file__) in files
    assert not [p for p in files if "site-packages" in p]
    assert changed_file(files) is None

    later = files[real] + 2_000_000_000
    os.utime(module_file, ns=(later, later))
    assert changed_file(files) == real
    module_file.unlink()
    assert changed_file({real: later}) == real
