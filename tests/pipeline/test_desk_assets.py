"""The trader's-desk assets through real Dagster materializations on the synthetic vendor:
earnings, the IV term structure, greek exposure and the daily rule hits on trading-day
partitions, then the desk marts (tide, IV stats, OI change, max pain, exposure by strike) with
their checks."""

import datetime as dt

import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_pipelines.defs.desk_marts import (
    exposure_adds_up,
    iv_stats,
    max_pain_is_a_listed_strike,
    oi_change_mart,
    tide_adds_up,
)
from primeflow_pipelines.defs.flow.assets import flow_scoring
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.flow.rule_alerts import rule_alerts
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)
from primeflow_pipelines.defs.market.desk import earnings, greek_exposure, iv_term_structure
from primeflow_pipelines.defs.market.gamma import gamma_exposure
from primeflow_pipelines.defs.sql_models import SQL_DIR, build_sql_asset

START, END = "2024-05-20", "2024-05-22"
DAILY = [universe, ohlcv_daily, ohlcv_intraday, option_chain, gamma_exposure, option_prints, flow_scoring,
         earnings, iv_term_structure, greek_exposure, rule_alerts]


@pytest.mark.slow
def test_desk_assets_and_marts(small_config, materialize_range):
    small_config.write_text(
        "universe:\n  size: 6\nsynthetic:\n  prints_per_ticker_day: 600\n"
        "alerts:\n  rules:\n    - {name: big_orders, applies_to: order, when: {premium: {gte: 100000}},\n"
        "       channel: console, cooldown_minutes: 60, daily_cap: 3}\n")
    res = materialize_range(DAILY, START, END)
    assert res.success, [e.step_failure_data.error.message for e in res.get_step_failure_events()]
    evals = [e for e in res.get_asset_check_evaluations()
             if e.asset_key.path[-1] in ("earnings", "iv_term", "greek_exposure", "rule_alerts")]
    assert {e.check_name for e in evals} >= {"gex_matches_gamma_exposure", "hits_reference_rows",
                                             "every_signal_routed", "iv_in_range"}
    assert all(e.passed for e in evals), [e.check_name for e in evals if not e.passed]
    marts = [build_sql_asset(SQL_DIR / f"{m}.sql") for m in ("tide_minute", "max_pain", "exposure_by_strike")]
    res = materialize_range([*marts, iv_stats, oi_change_mart, tide_adds_up, max_pain_is_a_listed_strike,
                             exposure_adds_up], START, START)
    assert res.success, [e.step_failure_data.error.message for e in res.get_step_failure_events()]
    checks = res.get_asset_check_evaluations()
    assert {e.check_name for e in checks} >= {"tide_adds_up", "max_pain_is_a_listed_strike", "exposure_adds_up",
                                               "rank_in_unit_interval", "change_is_difference"}
    assert all(e.passed for e in checks), [e.check_name for e in checks if not e.passed]
    with warehouse.connect() as con:
        hits = con.execute("SELECT rule, outcome, count(*) AS n FROM flow.rule_alerts GROUP BY ALL").df()
        per_day = con.execute("SELECT trade_date, count(*) AS n FROM flow.rule_alerts WHERE rule = 'big_orders' "
                              "AND outcome = 'alert' GROUP BY 1").df()
        ivs = con.execute("SELECT * FROM marts.iv_stats").df()
        oic = con.execute("SELECT status, count(*) AS n FROM marts.oi_change GROUP BY 1").df()
        earn = con.execute("SELECT DISTINCT vendor FROM market.earnings").df()
    assert "big_orders" in set(hits["rule"]) and (per_day["n"] <= 3).all()  # the daily cap
    assert set(hits.loc[hits["rule"] == "big_orders", "outcome"]) <= {"alert", "cooldown", "daily_cap"}
    assert set(ivs["sessions_used"]) == {1, 2, 3} and ivs["short_history"].all()
    md = res.asset_materializations_for_node("marts__iv_stats")[0].metadata
    assert "IV rank over fewer sessions than the 252 asked" in md["history_warning"].value
    statuses = dict(zip(oic["status"], oic["n"], strict=True))
    assert statuses.get("missing_prev_snapshot", 0) > 0  # the first session has no snapshot before it
    assert statuses.get("ok", 0) > 0
    assert list(earn["vendor"]) == ["synthetic"]
    first = pd.Timestamp(START).date()
    assert first == dt.date(2024, 5, 20)
