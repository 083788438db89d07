"""``make reliability``: run the reliability suite (``tests/reliability/`` plus the relay crash
test ``tests/alerts/test_crash.py``), then print ONE table of the figures the tests recorded and,
as the last line, one JSON object with them. Exit status: pytest's.

Every figure is read from the JUnit XML the run wrote (``record_property`` in each test); a
scenario that did not run shows as missing, never as a made-up number.

Usage: ``python tests/reliability/run.py [--xml PATH] [extra pytest args]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ["tests/reliability", "tests/alerts/test_crash.py"]


def collect(xml_path: Path) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``({test name: {property: value}}, {test name: outcome})`` from a JUnit XML file."""
    props: dict[str, dict[str, str]] = {}
    outcome: dict[str, str] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        name = case.get("name", "?")
        props[name] = {p.get("name"): p.get("value") for p in case.iter("property")}
        bad = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        outcome[name] = bad[0] if bad else "passed"
    return props, outcome


def figures(props: dict[str, dict[str, str]], outcome: dict[str, str]) -> dict:
    def p(test: str, key: str, cast=int):
        v = props.get(test, {}).get(key)
        if v is None:
            return None
        if cast is bool:
            return v == "True"
        try:
            return cast(v)
        except ValueError:
            return v

    crash = "test_relay_sigkilled_20_times_loses_nothing"
    kills = "test_rewrites_killed_leave_old_or_new"
    feed = "test_hostile_batches"
    sql = "test_hostile_statements_refused_files_untouched"
    sec = "test_no_secret_in_any_output"
    lock = "test_lock_held_30s_is_waited_out"
    reasons = p(feed, "quarantined_by_reason", str)
    sent = None
    if p(crash, "alerts") is not None and p(crash, "lost") is not None:
        sent = p(crash, "alerts") - p(crash, "lost")
    return {
        "relay_kills": p(crash, "kills"),
        "alerts": p(crash, "alerts"),
        "alerts_sent": sent,
        "alerts_lost": p(crash, "lost"),
        "alerts_duplicated": p(crash, "duplicates"),
        "rewrite_kills": p(kills, "kills"),
        "rewrite_outcome_old": p(kills, "old"),
        "rewrite_outcome_new": p(kills, "new"),
        "rewrite_outcome_partial_or_empty": p(kills, "partial_or_empty"),
        "hostile_batches": p(feed, "batches"),
        "hostile_rows_in": p(feed, "rows_in"),
        "hostile_rows_quarantined": p(feed, "rows_quarantined"),
        "hostile_rows_dropped_by_rule": p(feed, "rows_dropped_by_rule"),
        "hostile_accounting_errors": p(feed, "accounting_errors"),
        "quarantined_by_reason": json.loads(reasons) if isinstance(reasons, str) else None,
        "query_statements": p(sql, "statements"),
        "query_statements_refused": p(sql, "refused"),
        "query_refused_via_cli": p(sql, "refused_via_cli"),
        "warehouse_files_identical": p(sql, "files_identical", bool),
        "secrets_texts_scanned": p(sec, "texts_scanned"),
        "secrets_found": p(sec, "secrets_found"),
        "lock_seconds": p(lock, "lock_seconds", float),
        "lock_waits": p(lock, "lock_waits"),
        "lock_waits_survived": p(lock, "lock_waits_survived"),
        "tests_passed": sum(1 for o in outcome.values() if o == "passed"),
        "tests_failed": sum(1 for o in outcome.values() if o in ("failure", "error")),
    }


def table(f: dict) -> str:
    def v(x):
        return "missing" if x is None else str(x)

    rows = [
        ("alerts over relay kills", f"{v(f['alerts'])} alerts, {v(f['relay_kills'])} SIGKILLs: "
         f"sent {v(f['alerts_sent'])} / lost {v(f['alerts_lost'])} / duplicated {v(f['alerts_duplicated'])}"),
        ("partition rewrites killed", f"{v(f['rewrite_kills'])} SIGKILLs: old {v(f['rewrite_outcome_old'])}, "
         f"new {v(f['rewrite_outcome_new'])}, partial or empty {v(f['rewrite_outcome_partial_or_empty'])}"),
        ("hostile batches", f"{v(f['hostile_batches'])} batches, {v(f['hostile_rows_in'])} rows: "
         f"{v(f['hostile_rows_quarantined'])} quarantined, {v(f['hostile_rows_dropped_by_rule'])} dropped by a "
         f"named rule, accounting errors {v(f['hostile_accounting_errors'])}"),
    ]
    for reason, n in (f["quarantined_by_reason"] or {}).items():
        rows.append(("  quarantined: " + reason[:70], str(n)))
    rows += [
        ("query statements refused", f"{v(f['query_statements_refused'])} of {v(f['query_statements'])} "
         f"(CLI {v(f['query_refused_via_cli'])}); files byte-identical: {v(f['warehouse_files_identical'])}"),
        ("secrets found in outputs", f"{v(f['secrets_found'])} in {v(f['secrets_texts_scanned'])} texts scanned"),
        ("lock waits survived", f"{v(f['lock_waits_survived'])} of {v(f['lock_waits'])} "
         f"({v(f['lock_seconds'])} s lock)"),
        ("tests", f"{f['tests_passed']} passed, {f['tests_failed']} failed"),
    ]
    w = max(len(a) for a, _ in rows)
    line = "+" + "-" * (w + 2) + "+" + "-" * 92 + "+"
    out = [line, f"| {'figure'.ljust(w)} | {'value'.ljust(90)} |", line]
    out += [f"| {a.ljust(w)} | {b[:90].ljust(90)} |" for a, b in rows]
    out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xml", default=str(ROOT / "var" / "reliability" / "junit.xml"))
    args, extra = ap.parse_known_args(argv)
    xml = Path(args.xml)
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=legacy",
           f"--junitxml={xml}", *SUITE, *extra]
    rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ}, stdout=sys.stderr)
    if not xml.exists():
        print(json.dumps({"error": "pytest wrote no results", "pytest_exit": rc}))
        return rc or 1
    f = figures(*collect(xml))
    f["pytest_exit"] = rc
    print(table(f))
    print(json.dumps(f, sort_keys=False))
    return rc


if __name__ == "__main__":
    sys.exit(main())
