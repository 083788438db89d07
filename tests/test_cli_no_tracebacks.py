"""No tracebacks from the CLI (issue 23, item 2): every command of the ``primeflow`` group, found
by walking the click group (so commands added later are covered without editing this file), is
run with bad values for each of its options and arguments, one at a time. Each run must end in a
normal exit or a one-line click error: never an exception escaping the command, never the
``internal error`` net of :class:`primeflow_pipelines.commands.PrimeflowGroup`.

``BASE`` gives some commands arguments that make them quick (a small CSV, ``--no-record``,
``--max-batches 0``) so the bad value under test is the only thing wrong; a command without an
entry runs with only the bad value. ``REFUSE_ONLY`` lists commands that would do long work with
acceptable values: they must refuse every bad value before starting it.
"""

from __future__ import annotations

import contextlib
import math
import signal
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from primeflow_lib import calendar, warehouse
from primeflow_pipelines.commands import INTERNAL_ERROR, main

#: commands that would do long work with good values: every bad value must be refused first
REFUSE_ONLY = {("demo",): "builds the whole demo warehouse through Dagster runs (minutes)"}

DAY = "2024-06-03"


def _base(csv: Path) -> dict[tuple[str, ...], dict[str, list[str]]]:
    """Arguments that make a command quick; each maps an option to its values."""
    return {
        ("backtest",): {"--csv": [str(csv)], "--strategy": ["rsi"], "--no-record": []},
        ("tune",): {"--csv": [str(csv)], "--indicators": ["rsi"], "--trials": ["12"], "--folds": ["2"],
                    "--no-record": []},
        # fast enough that one batch holds the whole session whatever --max-batches says
        ("feed",): {"--max-batches": ["0"], "--tickers": ["SPY"], "--date": [DAY], "--speed": ["1000000"],
                    "--batch-seconds": ["0.05"]},
        ("fetch",): {"--symbol": ["SPY"], "--start": [DAY], "--end": [DAY], "--vendor": ["synthetic"],
                     "--no-publish": []},
        ("query",): {"SQL": ["SELECT 1"]},
        ("cache", "clear"): {"--timeframe": ["1d"], "--symbol": ["ZZZZ"], "--yes": []},
    }


def _bad_values(param: click.Parameter, tmp: Path) -> list[str]:
    """Values a user could type that the parameter should refuse or survive."""
    t = param.type
    garbage = tmp / "garbage.csv"
    if isinstance(t, click.Choice):
        return ["no-such-choice"]
    if isinstance(t, (click.types.IntParamType, click.IntRange)):
        return ["abc", "-1", "0", "99999999999999999999"]
    if isinstance(t, (click.types.FloatParamType, click.FloatRange)):
        return ["abc", "nan", "-1", "1e308"]
    if isinstance(t, click.Path):
        return [str(tmp / "missing" / "x.csv"), str(tmp), str(garbage)]
    if isinstance(t, click.types.BoolParamType) or getattr(param, "is_flag", False):
        return []
    return ["", "2024-13-45", "x" * 300, "ZZ;DROP TABLE x", "{a: 2024-13-45}", "x: ["]


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            if cmd.invoke_without_command:  # the group runs by itself (`primeflow tape --day ...`)
                yield (*path, name), cmd
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def _args(base: dict[str, list[str]], cmd: click.Command, param: click.Parameter, value: str) -> list[str]:
    """``base`` with the parameter under test set to ``value`` (options first, then arguments
    in their declared order)."""
    opts = {k: v for k, v in base.items() if k.startswith("-")}
    positional = {k: v for k, v in base.items() if not k.startswith("-")}
    if isinstance(param, click.Argument):
        positional[param.name.upper()] = [value]
    else:
        opts = {k: v for k, v in opts.items() if k not in param.opts and k not in param.secondary_opts}
        opts[param.opts[0]] = [value]
    out: list[str] = []
    for k, v in opts.items():
        out += [k, *v]
    for p in cmd.params:
        if isinstance(p, click.Argument) and p.name.upper() in positional:
            out += positional[p.name.upper()]
    return out


@pytest.fixture
def cli_world(tmp_path, monkeypatch):
    """A small warehouse with SPY bars, its read copy, a CSV of 300 sessions, a garbage file; the
    working directory is the test's folder (nothing is written in the repo)."""
    monkeypatch.chdir(tmp_path)
    days = calendar.sessions("2023-01-03", "2024-12-31")[:300]
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    bars = pd.DataFrame({"Date": [str(d) for d in days], "Open": close, "High": close * 1.01,
                         "Low": close * 0.99, "Close": close, "Volume": 1e6})
    csv = tmp_path / "px.csv"
    bars.to_csv(csv, index=False)
    (tmp_path / "garbage.csv").write_bytes(b"\x00\x01not,a\ncsv\xff")
    from primeflow_lib.schema.market import OHLCV_DAILY

    rows = bars.rename(columns=str.lower).rename(columns={"date": "trade_date"})
    rows["trade_date"] = pd.to_datetime(rows["trade_date"]).dt.date
    rows = rows.assign(ticker="SPY", vwap=None, vendor="synthetic")[OHLCV_DAILY.column_names]
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.append_rows(con, OHLCV_DAILY, rows)
        warehouse.publish_read_copy(con=con)
    monkeypatch.setattr("primeflow_pipelines.demo.run_demo",
                        lambda **k: (_ for _ in ()).throw(AssertionError("demo started with a bad value")))
    # the stream's services run until stopped (tests/stream start and stop the real ones): once
    # the command line is accepted, each ends here with exit 0 instead of starting its service
    for target in SERVICE_STARTS:
        monkeypatch.setattr(target, _service_started)
    return {"csv": csv, "tmp": tmp_path}


#: where the long-running stream commands start work that runs until it is stopped
SERVICE_STARTS = (
    "primeflow_lib.live.stream.run.build_replay",        # stream run/ingest --source replay
    "primeflow_lib.live.stream.run.replay_prints",       # stream serve
    "primeflow_lib.live.stream.service.StreamService",   # stream run (massive, databento, broker)
    "primeflow_lib.live.stream.broker.run_ingest",       # stream ingest
    "primeflow_lib.live.stream.broker.NatsServer",       # stream broker
)


def _service_started(*_a, **_k):
    raise SystemExit(0)


#: seconds one invocation may take before it counts as hanging
HANG_S = 90


class _Hung(Exception):
    """An invocation ran longer than :data:`HANG_S` (raised by SIGALRM inside it)."""


@contextlib.contextmanager
def _watchdog(seconds: float):
    def fire(signum, frame):
        raise _Hung(f"still running after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _check(path: tuple[str, ...], args: list[str], result, refuse_only: bool) -> str | None:
    """What is wrong with a run (None: fine)."""
    where = f"primeflow {' '.join(path)} {' '.join(a if len(a) < 40 else a[:37] + '...' for a in args)}"
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        return f"{where}: {type(exc).__name__} escaped: {exc}"
    if "Traceback" in result.output:
        return f"{where}: a traceback in the output:\n{result.output[-800:]}"
    if INTERNAL_ERROR in result.output or "demo started with a bad value" in result.output:
        return f"{where}: {result.output.strip()[-400:]}"
    if result.exit_code not in (0, 1, 2):
        return f"{where}: exit code {result.exit_code}"
    if result.exit_code != 0 and "Error" not in result.output and "Aborted" not in result.output:
        return f"{where}: failed without an error message: {result.output[-300:]!r}"
    if refuse_only and result.exit_code == 0:
        return f"{where}: accepted a bad value (it would have started the long work)"
    return None


def test_the_walker_finds_every_command():
    names = {" ".join(p) for p, _ in _commands(main)}
    assert {"backtest", "tune", "query", "feed", "fetch", "demo", "cache list", "cache clear",
            "inbox list", "inbox requeue", "publish", "docs", "tape", "tape order", "tape presets",
            "desk tide", "desk vol", "desk oi", "desk max-pain", "desk exposure", "rules save", "rules try",
            "model fit", "model hmm", "scale check", "gex", "stream run", "stream ingest", "stream serve",
            "stream broker", "stream status", "stream stop"} <= names


@pytest.mark.slow
def test_every_command_with_bad_values_ends_in_a_one_line_error(cli_world):
    base = _base(cli_world["csv"])
    problems, runs = [], 0
    runner = CliRunner()
    for path, cmd in _commands(main):
        refuse_only = path in REFUSE_ONLY
        b = {} if refuse_only else base.get(path, {})
        for param in cmd.params:
            if param.name in ("help", "version"):
                continue
            for value in _bad_values(param, cli_world["tmp"]):
                if refuse_only and isinstance(param.type, click.Path):
                    continue
                args = _args(b, cmd, param, value)
                with _watchdog(HANG_S):
                    result = runner.invoke(main, [*path, *args], input="n\n")
                runs += 1
                problem = _check(path, args, result, refuse_only and value not in ("0",) or False)
                if problem:
                    problems.append(problem)
    assert runs > 300
    assert not problems, f"{len(problems)} of {runs} runs:\n" + "\n".join(problems[:40])


def test_the_net_turns_an_unexpected_error_into_one_line(monkeypatch):
    def boom(**_k):
        raise ZeroDivisionError("division by zero in a helper")

    monkeypatch.setattr("primeflow_lib.warehouse.publish_read_copy", lambda *a, **k: boom())
    r = CliRunner().invoke(main, ["publish"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"Error: {INTERNAL_ERROR}: ZeroDivisionError: division by zero in a helper" in r.output
    assert math.isfinite(1.0)
