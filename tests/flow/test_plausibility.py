"""Plausibility rules: impossible prints are quarantined with their rule, never scored, and for
every hostile batch rows in = rows kept + rows quarantined + rows dropped by a named rule."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from flow_builders import DAY, SWING_SYM, build_scenario, make_bars, make_prints, rising_closes

from primeflow_lib.flow import plausibility as pl
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.validate import validate_prints

PUT = "XYZ250620P00101000"


@pytest.fixture
def rules(cfg):
    return copy.deepcopy(cfg["plausibility"])


def _reasons(p, rules, bars=None):
    v = validate_prints(p, rules=rules, bars_1m=bars)
    return {int(r.row_number): r.reason for r in v.quarantine.itertuples()}, v


def test_call_above_spot_put_above_strike(rules):
    bars = make_bars("XYZ", rising_closes())
    spot_hi = float(bars["high"].max())
    p = make_prints([
        {"t": "10:00:00", "price": spot_hi * 1.5, "bid": None, "ask": None},
        {"t": "10:00:01", "price": 2.5},
        {"t": "10:00:02", "option_symbol": PUT, "price": 150.0, "bid": None, "ask": None},
        {"t": "10:00:03", "option_symbol": PUT, "price": 3.0, "bid": 2.9, "ask": 3.1},
    ])
    got, v = _reasons(p, rules, bars)
    assert got == {0: pl.R_CALL, 2: pl.R_PUT}
    # without bars the call cannot be checked against spot: counted, not silently passed
    got, v = _reasons(p, rules)
    assert got == {2: pl.R_PUT} and v.counts["plausibility_unchecked"]["calls_without_spot"] == 2


def test_the_spot_bound_follows_each_bars_frame_asked_about(rules):
    """The session highs are indexed once per bars frame (the stream asks every step with the
    same one): the same frame again gives the same answer, a new frame its own."""
    bars = make_bars("XYZ", rising_closes())
    spot_hi = float(bars["high"].max())
    p = make_prints([{"t": "10:00:00", "price": spot_hi * 1.5, "bid": None, "ask": None}])
    assert _reasons(p, rules, bars)[0] == {0: pl.R_CALL}
    assert _reasons(p, rules, bars)[0] == {0: pl.R_CALL}
    higher = bars.assign(high=bars["high"] * 3)  # a new frame (bars read again): its own highs
    assert _reasons(p, rules, higher)[0] == {}
    assert _reasons(p, rules, bars)[0] == {0: pl.R_CALL}


def test_nbbo_band_size_premium(rules):
    rules["max_premium"] = 100_000.0
    p = make_prints([
        {"t": "10:00:00", "price": 5.0},  # quote 2.40 / 2.50: above ask x 1.5 + 0.25
        {"t": "10:00:01", "price": 0.5},  # below bid x 0.5 - 0.25
        {"t": "10:00:02", "price": 2.6},  # off the quote but inside the band: kept
        {"t": "10:00:03", "size": 300_000, "price": 0.001, "bid": None, "ask": None},
        {"t": "10:00:04", "size": 500, "price": 2.5},  # 125,000 USD premium
        {"t": "10:00:05", "price": 9.0, "bid": 2.6, "ask": 2.5},  # crossed quote: band not used
    ])
    got, _ = _reasons(p, rules)
    assert got == {0: pl.R_NBBO, 1: pl.R_NBBO, 3: pl.R_SIZE, 4: pl.R_PREMIUM}


def test_underlying_must_match_the_symbol_after_root_mapping(rules):
    p = make_prints([
        {"t": "10:00:00", "option_symbol": "AAPL250620C00200000", "underlying": "TSLA"},
        {"t": "10:00:01", "option_symbol": "SPXW250620C05000000", "underlying": "SPX", "bid": None, "ask": None},
        {"t": "10:00:02", "option_symbol": "AMC1250620C00005000", "underlying": "AMC", "bid": None, "ask": None},
        {"t": "10:00:03", "option_symbol": "O:BRK.B250620C00400000", "underlying": "BRK-B", "bid": None,
         "ask": None},
        {"t": "10:00:04", "option_symbol": "SPXW250620C05000000", "underlying": "SPXW", "bid": None, "ask": None},
        {"t": "10:00:05", "option_symbol": "SPY250620C00500000", "underlying": "QQQ", "bid": None, "ask": None},
    ])
    got, v = _reasons(p, rules)
    assert got == {0: pl.R_UNDERLYING, 5: pl.R_UNDERLYING}
    q = v.quarantine.set_index("row_number")
    assert q.loc[0, "field"] == "underlying" and q.loc[0, "value"] == "TSLA"


def test_trade_date_missing_unparseable_or_not_the_session_of_the_timestamp(rules):
    p = make_prints([{"t": f"10:00:0{i}"} for i in range(6)])
    p["trade_date"] = p["trade_date"].astype(object)
    p.loc[0, "trade_date"] = None
    p.loc[1, "trade_date"] = "not a date"
    p.loc[2, "trade_date"] = DAY + pd.Timedelta(days=3)  # the next Monday: a session, not this one
    p.loc[3, "trade_date"] = DAY + pd.Timedelta(days=1)  # a Saturday
    p.loc[4, "trade_date"] = str(DAY.date())  # a string of the right day is fine
    got, _ = _reasons(p, rules)
    assert got[0].startswith("trade_date is missing") and got[1].startswith("trade_date is missing")
    assert got[2] == pl.R_WRONG_SESSION and got[3] == pl.R_NOT_SESSION
    assert 4 not in got and 5 not in got


def test_absurd_print_is_never_scored(cfg):
    """The issue's case: price 1e12 x 1,000,000 on the swing contract passed "finite and > 0"
    and became a SWING signal with premium 1e20."""
    sc = build_scenario(cfg)
    base = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, source="base")
    bad = make_prints([{"t": "10:45:00", "option_symbol": SWING_SYM, "price": 1e12, "size": 1_000_000,
                        "print_id": "absurd-print"}])
    prints = pd.concat([sc["prints"], bad], ignore_index=True)
    res = score_batch(prints, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, source="hostile")
    assert "absurd-print" not in ",".join(res.events["print_ids"])
    assert float(res.events["premium"].max()) == float(base.events["premium"].max())
    assert len(res.signals) == len(base.signals)
    assert set(res.quarantine["reason"]) == {pl.R_NBBO, pl.R_SIZE, pl.R_PREMIUM, pl.R_CALL}
    assert set(res.quarantine["row_number"]) == {len(prints) - 1}


def _hostile_batches() -> dict[str, pd.DataFrame]:
    ok = [{"t": f"10:0{i}:00"} for i in range(4)]
    b = {}
    b["absurd"] = make_prints(ok + [{"t": "10:05:00", "price": 1e12, "size": 1_000_000}])
    b["mismatch"] = make_prints(ok + [{"t": "10:05:00", "option_symbol": "AAPL250620C00200000",
                                       "underlying": "TSLA"}])
    p = make_prints(ok + [{"t": "10:05:00"}, {"t": "10:06:00"}])
    p["trade_date"] = p["trade_date"].astype(object)
    p.loc[4, "trade_date"] = None
    p.loc[5, "trade_date"] = "2025-13-45"
    b["dates"] = p
    p = make_prints(ok + [{"t": "10:05:00"}])
    p.loc[4, ["price", "size"]] = [np.nan, -3]
    b["nan"] = p
    b["dup"] = pd.concat([make_prints(ok), make_prints(ok).iloc[[1]].assign(print_id="again")], ignore_index=True)
    b["compression_and_cancels"] = make_prints(ok + [
        {"t": "10:05:00", "conditions": "247"},
        {"t": "10:06:00", "size": 7},
        {"t": "10:07:00", "size": 7, "correction": 1},  # cancels the 10:06 print
        {"t": "10:08:00", "size": 99, "correction": 1},  # matches nothing: quarantined
    ])
    b["all_bad"] = make_prints([{"t": "10:00:00", "price": 0.0}, {"t": "10:00:01", "size": 1e9}])
    return b


@pytest.mark.parametrize("name", list(_hostile_batches()))
def test_rows_in_equal_kept_plus_quarantined_plus_counted(name, cfg):
    p = _hostile_batches()[name]
    res = score_batch(p, None, None, None, cfg, source=f"{name}.parquet")
    st = res.stats["prints"]
    kept = {x for ids in res.events["print_ids"] for x in ids.split(",") if x}
    quarantined = set(res.quarantine["row_number"].astype(int))
    dropped = st["compression_dropped"] + st["cancels"] - st["cancels_unmatched"] + st["cancelled_prints"]
    assert len(p) == len(kept) + len(quarantined) + dropped, (name, len(kept), quarantined, st)
    assert kept.isdisjoint(set(p.loc[sorted(quarantined), "print_id"]))
    assert res.stats["prints"]["in"] == len(p)


def test_thresholds_come_from_config(cfg):
    p = make_prints([{"t": "10:00:00", "size": 50}])
    assert len(score_batch(p, None, None, None, cfg).quarantine) == 0
    cfg["plausibility"]["max_size"] = 49
    assert list(score_batch(p, None, None, None, cfg).quarantine["reason"]) == [pl.R_SIZE]


def test_config_rejects_a_zero_threshold(tmp_path):
    from primeflow_lib.config import ConfigError, load_config

    f = tmp_path / "c.yaml"
    f.write_text("plausibility:\n  max_size: 0\n")
    with pytest.raises(ConfigError, match="plausibility.max_size"):
        load_config(f)

