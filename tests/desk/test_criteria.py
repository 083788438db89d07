"""The filter language shared by the tape and the rules: parsing, clear errors, and the two
evaluations (one row in Python, a whole table in SQL) agreeing on every value, NULL and NaN
included."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from primeflow_lib.flow.criteria import (
    Condition,
    CriteriaError,
    criteria_to_yaml,
    matches,
    parse_criteria,
    where_sql,
)


def test_shorthands_and_operators():
    c = parse_criteria({"side": "ASK", "ticker": ["spy", "qqq"], "premium": {"gte": 1e6, "lt": 5e6},
                        "tags": "SWEEP", "dte": {"between": [0, 7]}, "has_iso": True}, scope="tape")
    assert Condition("side", "eq", "ask") in c  # canonical case
    assert Condition("ticker", "in", ("SPY", "QQQ")) in c
    assert Condition("tags", "any", ("SWEEP",)) in c
    assert criteria_to_yaml(c)["premium"] == {"gte": 1e6, "lt": 5e6}
    row = {"side": "ask", "ticker": "SPY", "premium": 2e6, "tags": ["SWEEP", "ISO"], "dte": 3, "has_iso": True}
    assert matches(c, row)
    assert not matches(c, {**row, "dte": 8})
    assert not matches(c, {**row, "premium": None})  # unknown fails a comparison...
    loose = parse_criteria({"days_to_earnings": {"gt": 5, "or_unknown": True}}, scope="signal")
    assert matches(loose, {"days_to_earnings": None}) and not matches(loose, {"days_to_earnings": 2})
    assert matches(parse_criteria({"structure": {"is_null": True}}, scope="tape"), {"structure": None})


@pytest.mark.parametrize(("spec", "scope", "message"), [
    ({"premum": 1}, "tape", "unknown field 'premum' (did you mean 'premium'?)"),
    ({"premium": {"gtee": 1}}, "tape", "premium.gtee: unknown operator 'gtee' for a number field (did you mean 'gte'?)"),
    ({"premium": {"gte": "big"}}, "tape", "premium.gte: must be a number, got 'big' (str)"),
    ({"dte": {"lte": 1.5}}, "tape", "dte.lte: must be a whole number, got 1.5"),
    ({"side": "asks"}, "tape", "side: unknown value 'asks' for side (did you mean 'ask'?)"),
    ({"dte": [1, 2]}, "tape", "a list means 'in', which a integer field does not have"),
    ({"dte": {"between": [7, 1]}}, "tape", "dte.between: must be [low, high] with low <= high"),
    ({"is_etf": "yes"}, "tape", "is_etf: must be true or false, got 'yes'"),
    ({"strength": {"gte": 0.5}}, "order", "field 'strength' cannot be used in a rule on orders: it exists only for signals"),
    ({"open_close": "opening"}, "signal", "known only after the next chain snapshot"),
    ({"premium": {}}, "tape", "an empty mapping has no operator"),
    ({"premium": {"or_unknown": True}}, "tape", "or_unknown needs another operator"),
])
def test_errors_name_the_field_operator_and_value(spec, scope, message):
    with pytest.raises(CriteriaError) as exc:
        parse_criteria(spec, scope=scope, ctx="rule 'r'", prefix="when.")
    assert message in str(exc.value) and str(exc.value).startswith("rule 'r': when.")


# --------------------------------------------------------------------------- Python == SQL

_NUM_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null")
_num_value = st.one_of(st.none(), st.just(float("nan")), st.integers(-5, 5).map(float))
_text_value = st.one_of(st.none(), st.sampled_from(["ask", "bid", "mid"]))
_tags_value = st.one_of(st.none(), st.lists(st.sampled_from(["SWEEP", "BLOCK", "ISO"]), max_size=3))


@st.composite
def num_case(draw):
    op = draw(st.sampled_from(_NUM_OPS))
    if op == "between":
        a, b = sorted(draw(st.lists(st.integers(-5, 5), min_size=2, max_size=2)))
        v = [a, b]
    elif op == "is_null":
        v = draw(st.booleans())
    else:
        v = draw(st.integers(-5, 5))
    spec = {op: v}
    if op != "is_null" and draw(st.booleans()):
        spec["or_unknown"] = True
    return parse_criteria({"premium": spec}, scope="tape"), draw(_num_value), "DOUBLE"


@st.composite
def text_case(draw):
    op = draw(st.sampled_from(["eq", "ne", "in", "not_in", "is_null"]))
    v = (draw(st.booleans()) if op == "is_null" else
         draw(st.lists(st.sampled_from(["ask", "bid"]), min_size=1, max_size=2)) if op in ("in", "not_in")
         else draw(st.sampled_from(["ask", "bid"])))
    spec = {op: v}
    if op != "is_null" and draw(st.booleans()):
        spec["or_unknown"] = True
    return parse_criteria({"side": spec}, scope="tape"), draw(_text_value), "VARCHAR"


@st.composite
def tags_case(draw):
    op = draw(st.sampled_from(["any", "all", "none"]))
    spec = {op: draw(st.lists(st.sampled_from(["SWEEP", "BLOCK", "ISO"]), min_size=1, max_size=2))}
    return parse_criteria({"tags": spec}, scope="tape"), draw(_tags_value), "VARCHAR[]"


@pytest.fixture(scope="module")
def db():
    c = duckdb.connect()
    yield c
    c.close()


@settings(max_examples=250, deadline=None)
@given(case=st.one_of(num_case(), text_case(), tags_case()))
def test_python_and_sql_agree(db, case):
    conds, value, sql_type = case
    field = conds[0].field
    where, params = where_sql(conds)
    got_sql = db.execute(f'SELECT {where} FROM (SELECT ?::{sql_type} AS "{field}")', [*params, value]).fetchone()[0]
    got_py = matches(conds, {field: value})
    assert got_sql == got_py, (conds, value)
