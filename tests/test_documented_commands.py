"""Every documented command works (issue 23, item 5).

Each command line shown in a fenced shell code block (no language, ``bash``, ``sh``) of ``README.md`` or ``docs/*.md`` (lines starting
with ``primeflow``, ``.venv/bin/primeflow``, ``.venv/bin/dagster``, ``dagster``, ``make`` or
``export``; a trailing ``\\`` continues a line; ``# comments`` are dropped) is run against a small
demo-like warehouse built once per session, and must succeed. Pages added later are picked up
without editing this file.

A line that cannot run in a test is listed in :data:`CANNOT_RUN` with its reason (long-running
services, the test suite itself, the internet or a vendor key); a usage synopsis (``[--end ...]``,
``A | B`` alternatives) is not a command. Commands that run until stopped get the arguments in
:data:`BOUNDED` appended (``primeflow feed ... --max-batches 1``). ``A && B`` runs both, in order.
A file a command names that the fixture does not provide is looked up by name in the real market
samples (``PRIMEFLOW_REAL_DATA``) and copied next to the others; without them that command is
skipped with the reason (and fails in CI, where the folder exists).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from primeflow_lib import calendar, warehouse
from primeflow_pipelines.commands import main

REPO = Path(__file__).resolve().parents[1]
# --import-mode=importlib leaves test folders off sys.path: the desk day's builders live there
sys.path.insert(0, str(REPO / "tests" / "desk"))

#: lines that cannot run in a test: (pattern, reason)
CANNOT_RUN: list[tuple[str, str]] = [
    (r"^make demo\b", "builds the whole demo warehouse (minutes); CI runs it in its own job"),
    (r"^make test\b", "the test suite itself"),
    (r"^make ui\b", "a long-running service (Dagster webserver + daemon); tests/integration/test_make_ui_signals.py starts and stops it"),
    (r"^make workbench\b", "a long-running service (Streamlit); tests/workbench/test_browser.py starts it"),
    (r"^export ", "sets a variable for the commands after it; the test sets its own environment"),
    (r"──>|─►", "a diagram, not a command"),
    (r"primeflow fetch .*--vendor (yfinance|alpha_vantage|massive)\b", "needs the internet and, for some vendors, a key"),
    (r"^make rl\b", "installs the optional RL extra (torch, stable-baselines3) from PyPI; CI does it in its own step"),
    (r"primeflow rl train\b", "trains PPO agents with the optional RL extra (minutes); its tests run in CI after `make rl`"),
    (r"--llm-url\b", "needs a local LLM server (Ollama); tests/research use a local fake of its API"),
    (r"^make stream(-serve)?\b|primeflow stream (run|serve|broker|ingest)\b",
     "a long-running service (the stream, its websocket server, NATS); tests/stream start and stop each "
     "(test_crash runs `primeflow stream run` as a process, test_broker the broker, ingest and two consumers)"),
    (r"^make check-real\b", "reads every real sample (minutes); tests/test_cli_real.py and the real-data tests cover it"),
]
#: parts of a line that name something of the warehouse the page was written on, replaced by
#: its counterpart in the test's warehouse: (pattern, replacement, reason)
SUBSTITUTE: list[tuple[str, str, str]] = [
    (r"(primeflow tape order )[0-9a-f]{16}\b", r"\g<1>e1",
     "an order id is a hash of its prints: the page's id is one of the author's warehouse"),
]
#: arguments appended to commands that otherwise run until stopped
BOUNDED: list[tuple[str, list[str]]] = [
    (r"primeflow feed\b", ["--max-batches", "1"]),
]
#: fenced-block info strings whose lines are shell commands
SHELL_BLOCKS = ("", "bash", "sh", "shell", "console")
_PREFIX = re.compile(r"^(\.venv/bin/)?(primeflow|dagster)\b|^make\b|^export\b")


@dataclass(frozen=True)
class Documented:
    file: str
    line: int
    command: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.command}"


def _block_end(lines: list[str], start: int) -> int:
    """The index of the fence closing the block opened at ``start``."""
    for j in range(start + 1, len(lines)):
        if lines[j].strip().startswith("```"):
            return j
    return len(lines)


def documented_commands() -> list[Documented]:
    """Every command line in the code blocks of README.md and docs/*.md, in page order."""
    out: list[Documented] = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        lines = path.read_text().splitlines()
        in_block = False
        i = 0
        while i < len(lines):
            raw = lines[i]
            if raw.strip().startswith("```"):
                if in_block:
                    in_block = False
                elif raw.strip()[3:].strip() in SHELL_BLOCKS:
                    in_block = True
                else:  # a block in another language (yaml, python, sql) shows a file, not commands
                    i = _block_end(lines, i)
                i += 1
                continue
            if in_block and _PREFIX.match(raw.strip()):
                start = i
                text = raw.strip()
                while text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text[:-1].rstrip() + " " + lines[i].strip()
                out.append(Documented(path.name if path.parent == REPO else f"docs/{path.name}", start + 1, text))
            i += 1
    return out


def _why_not(cmd: str) -> str | None:
    for pattern, reason in CANNOT_RUN:
        if re.search(pattern, cmd):
            return reason
    if re.search(r"\[--|\s\|\s", cmd):
        return "a usage synopsis, not a command"
    return None


def _write_bars(path: Path, days: list, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, len(days))))
    pd.DataFrame({"Date": [str(d) for d in days], "Open": close * (1 + rng.normal(0, 0.002, len(days))),
                  "High": close * 1.012, "Low": close * 0.988, "Close": close,
                  "Volume": rng.integers(100_000, 1_000_000, len(days))}).to_csv(path, index=False)


@pytest.fixture(scope="session")
def docs_world(tmp_path_factory):
    """A demo-like warehouse (synthetic vendor): ~560 sessions of daily bars for the tickers the
    docs name (IBM as if fetched), the last two sessions' option chain and prints for SPY, the
    trader's-desk day of tests/desk (orders, chains, marts, rule hits on 2024-12-31), the read
    copy; and the files the examples read (prices CSVs, run.yaml, rule.yaml)."""
    import desk_builders

    from primeflow_lib.config import load_config
    from primeflow_lib.schema.flow import OPTION_PRINTS
    from primeflow_lib.schema.market import OHLCV_DAILY, OPTION_CHAIN, UNIVERSE
    from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

    root = tmp_path_factory.mktemp("docs_world")
    env = {"PRIMEFLOW_DUCKDB": str(root / "var" / "primeflow.duckdb"),
           "PRIMEFLOW_READ_DUCKDB": str(root / "var" / "primeflow_read.duckdb"),
           "PRIMEFLOW_INBOX": str(root / "var" / "inbox"),
           "PRIMEFLOW_ALERTS_FILE": str(root / "var" / "alerts.jsonl"),
           "PRIMEFLOW_VENDOR": "synthetic"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        cfg = load_config()
        vendor = SyntheticVendor.from_config(cfg)
        end = calendar.latest_completed_session()
        days = calendar.sessions_before(end, 559) + [end]
        names = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "AMZN", "META"]
        bars = vendor.daily_bars(names + ["IWM"], days[0], days[-1])
        ibm = bars[bars["ticker"] == "IWM"].assign(ticker="IBM", vendor="csv")  # as if fetched
        bars = pd.concat([bars[bars["ticker"] != "IWM"], ibm], ignore_index=True)
        with warehouse.connect() as con:
            warehouse.ensure_tables(con)
            warehouse.append_rows(con, OHLCV_DAILY, bars[OHLCV_DAILY.column_names])
            uni = vendor.top_volume_tickers(days[-1], cfg["universe"]["size"], cfg["universe"]["lookback_sessions"])
            warehouse.append_rows(con, UNIVERSE, uni[UNIVERSE.column_names])
            for d in days[-2:]:
                warehouse.append_rows(con, OPTION_CHAIN, vendor.option_chain(["SPY"], d)[OPTION_CHAIN.column_names])
                warehouse.append_rows(con, OPTION_PRINTS, vendor.option_prints(["SPY"], d)[OPTION_PRINTS.column_names])
            desk_builders.write_desk(con, marts=True)  # `primeflow tape`, `desk ...`, `rules ...`
            warehouse.publish_read_copy(con=con)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    work = root / "work"
    work.mkdir()
    csv_days = calendar.sessions_before(end, 399) + [end]
    for i, name in enumerate(["prices.csv", "my_prices.csv", "GOOG.csv"]):
        _write_bars(work / name, csv_days, seed=11 + i)
    intraday = vendor.intraday_bars(["SPY"], days[-10], days[-1])
    intraday.rename(columns={"ts": "datetime"})[["datetime", "open", "high", "low", "close", "volume"]].to_csv(
        work / "SPY_1min.csv", index=False)
    (work / "run.yaml").write_text("dataset: {symbol: AAPL}\nstrategy: signals\n"
                                   "indicators: {rsi: {}, macd: {}, phi_mft: {}}\nblend: {mode: phiai}\n"
                                   "description: the docs' run.yaml\n")
    (work / "rule.yaml").write_text("name: spy_big_calls\napplies_to: order\nwhen: {ticker: SPY, right: C, "
                                    "premium: {gte: 1e6}}\nchannel: console\ncooldown_minutes: 30\n")
    return {"env": env, "work": work}


def _provide_files(argv: list[str], work: Path) -> None:
    """Copy a file the command names from the real samples when the fixture has none by that name."""
    from primeflow_lib.real_data import real_data_dir, real_data_missing

    for arg in argv:
        if not re.search(r"\.(csv|dbn|zst|parquet|json)$", arg) or "/" in arg or (work / arg).exists():
            continue
        if arg.startswith(("out", "quarantine")):  # outputs the command writes
            continue
        missing = real_data_missing()
        if missing:
            if os.environ.get("PRIMEFLOW_CI"):
                pytest.fail(f"{arg}: {missing}")
            pytest.skip(f"{arg} comes from the real market samples: {missing}")
        found = next(iter(sorted(real_data_dir().rglob(arg))), None)
        if found is None:
            pytest.fail(f"{arg}: named by the docs but neither the fixture nor {real_data_dir()} has it")
        shutil.copy(found, work / arg)


def _run_one(argv: list[str]) -> tuple[int, str]:
    prog = Path(argv[0]).name
    if prog == "primeflow":
        r = CliRunner().invoke(main, argv[1:])
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            return 1, f"{type(r.exception).__name__}: {r.exception}\n{r.output}"
        return r.exit_code, r.output
    if prog == "dagster":
        cmd, cwd = [sys.executable, "-m", "dagster", *argv[1:]], REPO
    else:  # make
        cmd, cwd = argv, REPO
    p = subprocess.run(cmd, cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout[-3000:] + p.stderr[-3000:]


def _run(doc: Documented, world: dict, monkeypatch) -> tuple[int, str]:
    for k, v in world["env"].items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(world["work"])
    command = doc.command
    for pattern, replacement, _reason in SUBSTITUTE:
        command = re.sub(pattern, replacement, command)
    argv = shlex.split(command, comments=True)
    _provide_files(argv, world["work"])
    parts: list[list[str]] = [[]]
    for tok in argv:
        if tok == "&&":
            parts.append([])
        else:
            parts[-1].append(tok)
    out = ""
    for part in parts:
        for pattern, extra in BOUNDED:
            if re.search(pattern, " ".join(part)):
                part = [*part, *extra]
        code, text = _run_one(part)
        out += text
        if code != 0:
            return code, out
    return 0, out


ALL = documented_commands()


def test_the_docs_show_commands_and_each_is_runnable_or_excused():
    assert len(ALL) >= 20
    runnable = [d for d in ALL if _why_not(d.command) is None]
    assert len(runnable) >= 15
    for d in ALL:
        argv = shlex.split(d.command, comments=True)
        assert argv, d


@pytest.mark.slow
@pytest.mark.xdist_group("documented_commands")
@pytest.mark.parametrize("doc", [d for d in ALL if _why_not(d.command) is None], ids=str)
def test_documented_command_works(doc, docs_world, monkeypatch):
    code, output = _run(doc, docs_world, monkeypatch)
    assert code == 0, f"{doc}\nexit {code}:\n{output[-3000:]}"
    assert "Traceback" not in output, f"{doc}\n{output[-3000:]}"
