"""The warm run worker behind :class:`primeflow_pipelines.launcher.WarmRunLauncher`.

``python -m primeflow_pipelines.launcher_worker ORIGIN_JSON [--warm-up MODULE:FUNCTION]``

A normal Dagster run worker is a new Python process that imports Dagster and the whole code
location before its first op runs: 8-15 s on the 2-core reference machine, longer than the
near-live latency budget. This process pays that once. It loads the code location named by
``ORIGIN_JSON`` (a serialized ``JobPythonOrigin``) exactly as ``dagster api execute_run`` would,
optionally calls a warm-up function (JIT compilation and the like), then waits on stdin. For
each request line ``{"args": <serialized ExecuteRunArgs>}`` it forks; the child runs
``dagster api execute_run`` on the already-loaded modules and exits with its code, and the
parent answers ``{"pid": N}`` on stdout. A run is therefore still one process per run, with
Dagster's own run-worker code, events and cancellation; only the start-up is shared.

It stays correct when the code changes: before every fork it compares the modification times
of the project's modules it loaded (everything outside the Python installation and
site-packages); if one changed it answers ``{"stale": PATH}`` and exits, and the launcher starts
a fresh worker. It exits when stdin closes (the launcher's process went away); runs it started
carry on. Forking is only safe from a single-threaded process: if loading the code left other
threads running, every request is answered ``{"error": ...}`` and the launcher falls back to a
plain subprocess per run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import sysconfig
import threading
import traceback

from primeflow_pipelines.pg_pool import pool_instance_connections

#: protocol version, checked by the launcher in the first line the worker prints
PROTOCOL = 1

#: where replies to the launcher go: a private copy of the stdout pipe once :func:`main` ran
_replies = sys.stdout


def load_code_location(origin_json: str) -> None:
    """Import the code location and build its definitions, as a run worker would."""
    from dagster._core.origin import JobPythonOrigin
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_job_from_origin

    origin = deserialize_value(origin_json, JobPythonOrigin)
    recon_job_from_origin(origin).get_definition()
    # what `dagster api execute_run` imports on its own
    import dagster._cli.api  # noqa: F401


def call_warm_up(spec: str) -> None:
    """Call ``module:function`` (no arguments)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"warm_up must look like 'module:function', got {spec!r}")
    getattr(importlib.import_module(module), attr)()


def _installation_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    return tuple(os.path.realpath(r) + os.sep for r in roots)


def project_module_files() -> dict[str, int]:
    """``{path: mtime_ns}`` of every loaded module that is not part of the Python installation
    or an installed package, and of the folders holding them (a module added to a folder that
    is scanned at load time, like ``defs/``, changes the folder's mtime): the code whose edits
    must not be served from a stale process."""
    roots = _installation_roots()
    files: dict[str, int] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if real.startswith(roots) or "site-packages" in real:
            continue
        for target in (real, os.path.dirname(real)):
            try:
                files[target] = os.stat(target).st_mtime_ns
            except OSError:
                continue
    return files


def changed_file(files: dict[str, int]) -> str | None:
    """The first file whose modification time differs from the snapshot (or that vanished)."""
    for path, mtime in files.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return path
        except OSError:
            return path
    return None


def run_child(payload: str) -> None:
    """In the forked child: run ``dagster api execute_run`` and exit with its code."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # the run must not hold the pipe to the launcher: its own output goes to stderr
        if _replies is not sys.stdout:
            os.close(_replies.fileno())
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        from dagster._cli.api import api_cli

        try:
            api_cli.main(
                args=["execute_run", payload], prog_name="dagster api", standalone_mode=False
            )
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must always exit, never return to the loop
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def reply(message: dict) -> None:
    _replies.write(json.dumps(message) + "\n")
    _replies.flush()


def reserve_stdout_for_replies() -> None:
    """Keep the stdout pipe for replies only: whatever the code location or the warm-up prints
    on stdout goes to stderr, instead of reaching the launcher as a broken answer."""
    global _replies
    sys.stdout.flush()
    _replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)


def serve(origin_json: str, warm_up: str | None) -> int:
    """Load, answer ``ready``, then fork one run worker per request until stdin closes."""
    pool_instance_connections()  # runs inherit it: one pooled PostgreSQL connection, not one per event
    load_code_location(origin_json)
    if warm_up:
        call_warm_up(warm_up)
    files = project_module_files()
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    # native threads (jemalloc, BLAS) are invisible to `threading`; those libraries register
    # fork handlers, Python threads do not, so only the latter stop the warm path
    os_threads = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None
    # children are reaped by the kernel; nobody here waits for them
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    reply({"ready": PROTOCOL, "pid": os.getpid(), "files": len(files), "os_threads": os_threads})
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            payload = request["args"]
        except (ValueError, KeyError, TypeError) as exc:
            reply({"error": f"bad request: {exc}"})
            continue
        if threads:
            reply({"error": f"cannot fork: threads running after loading the code: {threads}"})
            continue
        stale = changed_file(files)
        if stale:
            reply({"stale": stale})
            return 0
        sys.stdout.flush()  # or the child would print the worker's buffered output again
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(payload)
        reply({"pid": pid})
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m primeflow_pipelines.launcher_worker")
    parser.add_argument("origin_json", help="serialized JobPythonOrigin of the code location")
    parser.add_argument("--warm-up", default=None, help="module:function called after loading")
    args = parser.parse_args(argv)
    reserve_stdout_for_replies()
    try:
        return serve(args.origin_json, args.warm_up)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:  # noqa: BLE001 - tell the launcher why, then exit non-zero
        traceback.print_exc()
        reply({"error": f"{type(exc).__name__}: {exc}"})
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
