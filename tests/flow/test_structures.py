"""Multi-leg structures across contracts, vendor condition maps and product sessions."""

from __future__ import annotations

import pandas as pd
import pytest
from flow_builders import make_chain, make_prints

from primeflow_lib.config import ConfigError, load_config
from primeflow_lib.flow.conditions import ConditionMapError, load_condition_maps
from primeflow_lib.flow.engine import score_batch

C100 = "XYZ250620C00100000"
C105 = "XYZ250620C00105000"
C110 = "XYZ250620C00110000"
C115 = "XYZ250620C00115000"
P95 = "XYZ250620P00095000"
P90 = "XYZ250620P00090000"
P100 = "XYZ250620P00100000"
C100_JUL = "XYZ250718C00100000"
C105_JUL = "XYZ250718C00105000"


def legs(spec, t="10:00:00.000", **extra):
    """One print per (symbol, size, price, bid, ask) at the same instant."""
    return [
        {"t": t, "option_symbol": s, "size": n, "price": px, "bid": b, "ask": a, **extra}
        for s, n, px, b, a in spec
    ]


def structures(rows, cfg, chain=None):
    res = score_batch(make_prints(rows), None, None, chain, cfg)
    ev = res.events
    return res, ev[ev.structure_id.notna()]


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ([(C100, 10, 2.5, 2.4, 2.5), (C105, 10, 1.0, 1.0, 1.1)], "vertical"),
        ([(C100, 10, 2.5, 2.4, 2.5), (P100, 10, 2.0, 1.9, 2.0)], "straddle"),
        ([(C105, 10, 2.5, 2.4, 2.5), (P95, 10, 2.0, 1.9, 2.0)], "strangle"),
        ([(C100, 10, 2.5, 2.4, 2.5), (C105, 20, 1.0, 1.0, 1.1)], "ratio"),
        ([(C100, 10, 2.5, 2.4, 2.5), (C105, 20, 1.0, 1.0, 1.1), (C110, 10, 0.4, 0.3, 0.4)], "butterfly"),
        ([(P90, 5, 0.5, 0.4, 0.5), (P95, 5, 1.0, 1.0, 1.1), (C105, 5, 1.0, 1.0, 1.1),
          (C110, 5, 0.4, 0.3, 0.4)], "condor"),
        ([(P95, 5, 0.5, 0.4, 0.5), (P100, 5, 1.0, 1.0, 1.1), (C100, 5, 1.0, 1.0, 1.1),
          (C105, 5, 0.4, 0.3, 0.4)], "butterfly"),  # iron butterfly
        ([(C100, 10, 2.5, 2.4, 2.5), (C100_JUL, 10, 4.0, 4.0, 4.1)], "roll"),  # near leg 7 DTE
        ([(C100, 10, 2.5, 2.4, 2.5), (C105_JUL, 10, 3.0, 3.0, 3.1), (C115, 30, 0.2, 0.1, 0.2)], "complex"),
    ],
)
def test_labels(spec, label, cfg):
    _, s = structures(legs(spec), cfg)
    assert set(s.structure) == {label}
    assert s.structure_id.nunique() == 1
    assert set(s.structure_legs) == {len(spec)}
    assert (s.event_type == "multileg").all() and s.non_directional.all()
    assert set(s.sentiment) == {"neutral"}


def test_calendar_and_diagonal_when_the_near_leg_is_not_about_to_expire(cfg):
    cfg["flow"]["roll_max_dte"] = 3
    _, s = structures(legs([(C100, 10, 2.5, 2.4, 2.5), (C100_JUL, 10, 4.0, 4.0, 4.1)]), cfg)
    assert set(s.structure) == {"calendar"}
    _, s = structures(legs([(C100, 10, 2.5, 2.4, 2.5), (C105_JUL, 10, 3.0, 3.0, 3.1)]), cfg)
    assert set(s.structure) == {"diagonal"}


def test_net_premium_and_net_delta(cfg):
    # bull call spread: buy 10 C100 at the ask 2.50, sell 10 C105 at the bid 1.00
    rows = legs([(C100, 10, 2.5, 2.4, 2.5), (C105, 10, 1.0, 1.0, 1.1)])
    chain = make_chain([
        {"option_symbol": C100, "expiry": "2025-06-20", "right": "C", "strike": 100, "delta": 0.55},
        {"option_symbol": C105, "expiry": "2025-06-20", "right": "C", "strike": 105, "delta": 0.30},
    ])
    _, s = structures(rows, cfg, chain)
    assert s.structure_net_premium.iloc[0] == pytest.approx(2.5 * 1000 - 1.0 * 1000)
    assert s.structure_net_delta.iloc[0] == pytest.approx((0.55 - 0.30) * 10 * 100)
    # without a chain the delta is unknown, the premium is not
    _, s = structures(rows, cfg)
    assert s.structure_net_delta.isna().all() and s.structure_net_premium.notna().all()


def test_a_spread_is_one_order_not_two_directional_bets(cfg):
    rows = legs([(C100, 400, 2.5, 2.4, 2.5), (C105, 400, 1.0, 1.0, 1.1)])
    res, s = structures(rows, cfg)
    assert len(s) == 2 and (s.sentiment == "neutral").all()
    # the same two prints 5 ms apart are two single-leg orders with a direction each (a call
    # bought: bullish; a call sold: bearish)
    rows[1]["t"] = "10:00:00.005"
    res, s = structures(rows, cfg)
    assert len(s) == 0 and list(res.events.sort_values("strike").sentiment) == ["bullish", "bearish"]


def test_unrelated_sizes_do_not_group_unless_flagged(cfg):
    spec = [(C100, 7, 2.5, 2.4, 2.5), (C105, 11, 1.0, 1.0, 1.1)]
    _, s = structures(legs(spec), cfg)
    assert len(s) == 0
    # the vendor marks both as spread legs (OPRA 232): grouped whatever the ratio
    _, s = structures(legs(spec, conditions="232"), cfg)
    assert set(s.structure) == {"complex"}
    cfg["flow"]["structure_waive_ratio_for_flagged"] = False
    _, s = structures(legs(spec, conditions="232"), cfg)
    assert len(s) == 0


def test_unflagged_print_in_the_bucket_is_left_out(cfg):
    rows = legs([(C100, 12, 2.5, 2.4, 2.5), (C105, 12, 1.0, 1.0, 1.1)], conditions="232")
    rows += legs([(C110, 5, 0.4, 0.3, 0.4), (C110, 84, 0.4, 0.3, 0.4)])
    res, s = structures(rows, cfg)
    assert set(s.option_symbol) == {C100, C105} and set(s.structure) == {"vertical"}
    assert res.stats["prints"]["multileg_prints_in_structures"] == 2


def test_sequence_adjacency_separates_two_spreads_in_one_millisecond(cfg):
    rows = legs([(C100, 30, 2.5, 2.4, 2.5), (C105, 30, 1.0, 1.0, 1.1),
                 (P95, 7, 1.0, 1.0, 1.1), (P90, 7, 0.5, 0.4, 0.5)])
    for r, vs in zip(rows, (1000, 1001, 5000, 5002), strict=True):
        r["vendor_sequence"] = vs
    _, s = structures(rows, cfg)
    # the whole bucket (30:30:7:7) fails the ratio test; sequence runs give two verticals
    assert s.structure_id.nunique() == 2 and set(s.structure) == {"vertical"}


def test_window_is_configurable(cfg):
    rows = legs([(C100, 10, 2.5, 2.4, 2.5), (C105, 10, 1.0, 1.0, 1.1)])
    rows[1]["t"] = "10:00:00.003"
    assert len(structures(rows, cfg)[1]) == 0
    cfg["flow"]["structure_window_ms"] = 5.0
    assert len(structures(rows, cfg)[1]) == 2


# ------------------------------------------------------------------- condition maps per vendor
def test_cboe_codes_are_read_with_the_cboe_map(cfg):
    rows = legs([(C100, 10, 2.5, 2.4, 2.5), (C105, 10, 1.0, 1.0, 1.1)], conditions="35", vendor="cboe")
    rows.append({"t": "10:05:00", "conditions": "13", "vendor": "cboe"})  # SOLD_LAST: late
    res = score_batch(make_prints(rows), None, None, None, cfg)
    st = res.stats["prints"]
    assert st["unknown_condition_prints"] == 0 and st["multileg_prints"] == 2
    assert res.events.is_late.sum() == 1
    # under the OPRA map the same codes are unknown: counted per code, never regular
    for r in rows:
        r["vendor"] = "massive"
    res = score_batch(make_prints(rows), None, None, None, cfg)
    assert res.stats["prints"]["unknown_condition_codes"] == {"opra:13": 1, "opra:35": 2}
    assert res.events.has_unknown_condition.all()


def test_condition_maps_in_config(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("conditions:\n  maps:\n    opra:\n      '999': [multileg]\n")
    cfg = load_config(f, with_api_keys=False)
    m = load_condition_maps(cfg["conditions"])
    assert m.maps["opra"][999] and m.maps["opra"][219]  # added to, not replacing, the map
    f.write_text("conditions:\n  maps:\n    opra:\n      '999': [bogus]\n")
    with pytest.raises(ConditionMapError, match=r"conditions.maps.opra.999: unknown meaning 'bogus'"):
        load_condition_maps(load_config(f, with_api_keys=False)["conditions"])
    f.write_text("conditions:\n  maps:\n    opra:\n      '999': 5\n")
    with pytest.raises(ConfigError, match="list of meanings"):
        load_config(f, with_api_keys=False)


# --------------------------------------------------------------------------- product sessions
def test_index_and_vix_options_trade_to_16_15(cfg):
    vix = "VIX160608C00015000"
    rows = [
        {"t": "16:10:00", "day": "2016-06-01", "option_symbol": vix, "underlying": "VIX"},
        {"t": "16:10:00", "day": "2016-06-01"},  # XYZ: an equity, closed at 16:00
        {"t": "16:20:00", "day": "2016-06-01", "option_symbol": vix, "underlying": "VIX"},
    ]
    p = make_prints(rows)
    p.loc[1, "option_symbol"] = "XYZ160617C00101000"
    res = score_batch(p, None, None, None, cfg)
    ext = res.events.set_index("first_ts").is_extended
    assert res.stats["prints"]["out_of_session_prints"] == 2
    assert list(res.events.sort_values(["first_ts", "ticker"]).is_extended) == [False, True, True]
    assert ext.sum() == 2
    cfg["sessions"]["products"]["XYZ"] = {"open": "09:30", "close": "16:15"}
    assert score_batch(p, None, None, None, cfg).stats["prints"]["out_of_session_prints"] == 1


def test_structure_columns_are_null_outside_structures(cfg):
    res = score_batch(make_prints([{"t": "10:00:00"}]), None, None, None, cfg)
    e = res.events.iloc[0]
    assert pd.isna(e.structure) and pd.isna(e.structure_id) and pd.isna(e.structure_legs)
    assert pd.isna(e.structure_net_premium) and pd.isna(e.structure_net_delta)
