"""docs/reliability.md scenario 12: hostile feed batches (every kind docs/reliability.md lists) scored on a
bullish scenario that produces signals. Nothing from a bad row is scored, alerted or
paper-traded, and for every batch rows in = kept + quarantined + dropped by a named rule."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from flow_builders import SWING_SYM, SYM, build_scenario, make_prints

from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.paper import paper_trade

pytestmark = pytest.mark.slow


def _batches(base: pd.DataFrame) -> dict[str, pd.DataFrame]:
    def extra(rows):
        return pd.concat([base, make_prints(rows)], ignore_index=True)

    b = {}
    p = base.copy()
    for i, (c, v) in enumerate([("price", np.nan), ("price", 0.0), ("price", np.inf), ("price", -2.0),
                                ("size", 0), ("size", -5), ("size", 2.5)]):
        row = make_prints([{"t": f"11:0{i}:00", "print_id": f"bad-{c}-{i}"}])
        row[c] = row[c].astype(float)
        row.loc[0, c] = v
        p = pd.concat([p, row], ignore_index=True)
    b["nan_zero_inf_negative"] = p
    b["crossed_quotes"] = extra([{"t": "11:00:00", "bid": 3.0, "ask": 2.0}, {"t": "11:00:01", "bid": 0, "ask": 0}])
    b["duplicates"] = pd.concat([base, base.iloc[[0, 1]].assign(print_id=["d1", "d2"])], ignore_index=True)
    b["out_of_order"] = base.iloc[::-1].reset_index(drop=True)
    b["cancels"] = extra([{"t": "11:00:00", "size": 7}, {"t": "11:00:05", "size": 7, "correction": 1},
                          {"t": "11:00:06", "size": 77, "correction": 1}])
    b["compression"] = extra([{"t": "11:00:00", "conditions": "247"}])
    b["late"] = extra([{"t": "09:45:00"}])
    b["symbol_forms"] = extra([{"t": "11:00:00", "option_symbol": "O:" + SYM, "underlying": "XYZ"},
                               {"t": "11:00:01", "option_symbol": "XYZ   250620C00101000"},
                               {"t": "11:00:02", "option_symbol": "AMC1250620C00005000", "underlying": "AMC"},
                               {"t": "11:00:03", "option_symbol": "BRK.B250620C00400000", "underlying": "BRK-B"},
                               {"t": "11:00:04", "option_symbol": "NOT_A_SYMBOL"}])
    b["absurd_price_size"] = extra([{"t": "10:45:00", "option_symbol": SWING_SYM, "price": 1e12,
                                     "size": 1_000_000, "print_id": "absurd"}])
    b["wrong_underlying"] = extra([{"t": "10:45:00", "option_symbol": "AAPL250620C00200000", "underlying": "XYZ",
                                    "size": 5000, "price": 2.5, "print_id": "aapl-in-xyz"}])
    p = extra([{"t": "11:00:00"}, {"t": "11:00:01"}, {"t": "11:00:02"}])
    p["trade_date"] = p["trade_date"].astype(object)
    p.loc[len(p) - 3, "trade_date"] = None
    p.loc[len(p) - 2, "trade_date"] = "2025-02-30"
    p.loc[len(p) - 1, "trade_date"] = pd.Timestamp("2025-06-16")  # a session, not the timestamp's
    b["bad_trade_dates"] = p
    p = extra([{"t": "11:00:00"}])
    p.loc[len(p) - 1, ["price", "bid", "ask"]] = [250.0, 2.4, 2.5]  # 100x currency-unit slip
    b["unit_slip"] = p
    b["empty"] = base.iloc[0:0]
    return b


def test_hostile_batches(record_property):
    cfg = default_config()
    sc = build_scenario(cfg)
    base = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, source="base")
    assert len(base.signals) > 0
    by_reason: Counter = Counter()
    rows_in = rows_quarantined = rows_dropped = batches = 0
    problems = []
    for name, p in _batches(sc["prints"]).items():
        batches += 1
        res = score_batch(p, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, source=f"{name}.parquet")
        st = res.stats["prints"]
        kept = {x for ids in res.events["print_ids"] for x in ids.split(",") if x} if len(res.events) else set()
        qrows = set(res.quarantine["row_number"].astype(int)) if len(res.quarantine) else set()
        dropped = st.get("compression_dropped", 0) + st.get("cancels", 0) - st.get("cancels_unmatched", 0) \
            + st.get("cancelled_prints", 0)
        if len(p) != len(kept) + len(qrows) + dropped:
            problems.append(f"{name}: {len(p)} in != {len(kept)} kept + {len(qrows)} quarantined + {dropped}")
        bad_ids = set(p["print_id"].iloc[sorted(qrows)]) if qrows else set()
        sig_ids = {x for ids in res.signals.get("print_ids", pd.Series([], dtype=object)) for x in str(ids).split(",")}
        if bad_ids & (kept | sig_ids):
            problems.append(f"{name}: quarantined prints scored {sorted(bad_ids & (kept | sig_ids))[:3]}")
        if len(res.signals):
            pos = paper_trade(res.signals, sc["bars_1m"], sc["daily_bars"], cfg, None)
            traded = {x for ids in res.signals.loc[res.signals["signal_id"].isin(pos.get("signal_id", []))]
                      ["print_ids"] for x in str(ids).split(",")}
            if bad_ids & traded:
                problems.append(f"{name}: quarantined prints paper-traded")
        if len(res.events) and float(res.events["premium"].max()) > cfg["plausibility"]["max_premium"]:
            problems.append(f"{name}: an event above max_premium was scored")
        rows_in += len(p)
        rows_quarantined += len(qrows)
        rows_dropped += dropped
        by_reason.update(res.stats["quarantined_by_reason"])
    for k, v in {"batches": batches, "rows_in": rows_in, "rows_quarantined": rows_quarantined,
                 "rows_dropped_by_rule": rows_dropped, "accounting_errors": len(problems),
                 "quarantined_by_reason": json.dumps(dict(sorted(by_reason.items())))}.items():
        record_property(k, v)
    assert not problems, problems
