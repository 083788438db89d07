"""The desk's CLI on the desk day (issue 23: no tracebacks): the tape table with unknown days to
earnings, one order, the tide of a sector, a rule tried with a number in exponent form and
filter text that does not parse."""

from __future__ import annotations

import desk_builders
import pytest
from click.testing import CliRunner

from primeflow_lib import warehouse
from primeflow_pipelines.commands import INTERNAL_ERROR, main


@pytest.fixture
def published():
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        desk_builders.write_desk(con, marts=True)
        warehouse.publish_read_copy(con=con)


def _ok(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0 and r.exception is None, r.output
    assert INTERNAL_ERROR not in r.output and "Traceback" not in r.output
    return r.output


def test_the_tape_table_says_unknown_days_to_earnings(published):
    out = _ok("tape", "--ticker", "SPY", "--type", "sweep", "--side", "ask", "--min-premium", "250000",
              "--zero-dte", "exclude")
    assert "2 of 2 matching orders" in out and "unknown" in out  # SPY has no earnings date: NA


def test_order_tide_and_a_rule_in_exponent_form(published):
    assert "SPY250117C00600000" in _ok("tape", "order", "e1")
    assert "Technology" in _ok("desk", "tide", "--scope", "sector", "--name", "Technology")
    _ok("rules", "try", "{name: t, applies_to: order, when: {premium: {gte: 1e6}}, channel: console}",
        "--day", str(desk_builders.D1))


@pytest.mark.parametrize("args", [["tape", "--where", "{vol_oi: 2024-13-45}"], ["rules", "save", "x: ["]])
def test_filter_text_that_does_not_parse_is_a_one_line_error(published, args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code in (1, 2) and "not YAML or JSON" in r.output
    assert INTERNAL_ERROR not in r.output and "Traceback" not in r.output
