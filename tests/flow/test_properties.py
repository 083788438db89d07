"""Property test: any mix of prints (good, hostile, cancels, late) is fully accounted for."""

from __future__ import annotations

import numpy as np
from flow_builders import make_prints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import score_batch

CFG = default_config()
SYMS = ["XYZ250620C00101000", "XYZ250620P00099000", "ABC250718C00050000"]
CONDS = ["", "209", "219", "229", "232", "241", "201", "204", "247", "999", "219,209"]

print_row = st.fixed_dictionaries(
    {
        "ms": st.integers(0, 5_000),
        "option_symbol": st.sampled_from(SYMS),
        "exchange": st.sampled_from([302, 308, 316]),
        "price": st.sampled_from([2.40, 2.45, 2.50, 2.55, 0.0, -1.0, float("nan")]),
        "size": st.sampled_from([1, 10, 500, 1200, 0]),
        "conditions": st.sampled_from(CONDS),
        "quote": st.sampled_from(["ok", "none", "crossed"]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(print_row, min_size=1, max_size=25))
def test_every_print_is_accounted_for(rows):
    built = []
    for r in rows:
        q = {"ok": (2.40, 2.50), "none": (None, None), "crossed": (2.6, 2.5)}[r["quote"]]
        built.append(
            {
                "t": f"10:00:{r['ms'] // 1000:02d}.{r['ms'] % 1000:03d}",
                "option_symbol": r["option_symbol"],
                "exchange": r["exchange"],
                "price": r["price"],
                "size": r["size"],
                "conditions": r["conditions"],
                "bid": q[0],
                "ask": q[1],
            }
        )
    p = make_prints(built)
    res = score_batch(p, None, None, None, CFG)
    st_ = res.stats["prints"]
    bad_rows = set(res.quarantine.row_number)
    ids = [i for s in res.events.print_ids for i in s.split(",") if i]
    assert len(ids) == len(set(ids))  # each print in at most one order
    used = set(ids)
    # every received print is in one order, or quarantined (bad values, duplicates, unmatched
    # cancels), or dropped by a counted rule (compression, matched cancel, cancelled print)
    matched_cancels = st_["cancels"] - st_["cancels_unmatched"]
    dropped = st_["compression_dropped"] + matched_cancels + st_["cancelled_prints"]
    assert len(used) + len(bad_rows) + dropped == len(p)
    assert res.events["size"].sum() == p.loc[p.print_id.isin(used), "size"].sum()
    # nothing bad is scored: every signal's prints are good prints
    good_ids = set(p.print_id[np.isfinite(p.price) & (p.price > 0) & (p["size"] > 0)])
    for s in res.signals.print_ids:
        assert set(s.split(",")) <= good_ids
    assert not res.events.is_late.any() or st_["late_prints"] > 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-5, 5), max_size=300))
def test_stable_argsort_matches_numpy(values):
    from primeflow_lib.arrays import stable_argsort

    a = np.asarray(values, dtype=np.int64)
    assert np.array_equal(stable_argsort(a), np.argsort(a, kind="stable"))
