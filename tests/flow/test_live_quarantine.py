"""The live path loses no row: a null, unparseable or non-session trade_date is quarantined and
counted in the heartbeat (the issue's 55-row file once showed 54 prints and no quarantine)."""

from __future__ import annotations

import pandas as pd
from flow_builders import DAY, make_prints

from primeflow_lib import warehouse
from primeflow_lib.live.process import batch_days, score_batch_file


def _batch(tmp_path, n=55):
    p = make_prints([{"t": f"10:{i // 60:02d}:{i % 60:02d}"} for i in range(n)])
    p["trade_date"] = p["trade_date"].astype(object)
    p.loc[7, "trade_date"] = None
    p.loc[8, "trade_date"] = "garbage"
    p.loc[9, "trade_date"] = DAY + pd.Timedelta(days=1)  # a Saturday
    p.loc[10, ["trade_date", "sip_timestamp"]] = [None, None]  # no date at all
    p["trade_date"] = p["trade_date"].astype(str)  # a Parquet column of one type, as a vendor writes it
    p.loc[[7, 10], "trade_date"] = None
    f = tmp_path / "hostile.parquet"
    p.to_parquet(f, index=False)
    return p, f


def test_batch_days_fall_back_to_the_timestamp(tmp_path):
    p, _ = _batch(tmp_path)
    d = batch_days(p)
    assert str(d[7]) == str(DAY.date()) and str(d[8]) == str(DAY.date())
    assert str(d[9]) == str((DAY + pd.Timedelta(days=1)).date()) and pd.isna(d[10])


def test_every_row_is_scored_or_quarantined(tmp_path, cfg):
    p, f = _batch(tmp_path)
    live = warehouse.warehouse_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
    out = score_batch_file(f, lambda: warehouse.connect(live), cfg)
    # 4 rows quarantined; row 10 breaks two rules (no trade_date, no sip_timestamp): 5 quarantine rows
    assert out.prints == 55 and out.quarantined == 5, out
    with warehouse.connect(live, read_only=True) as con:
        q = con.execute("SELECT row_number, reason, source FROM flow.quarantine ORDER BY source, row_number").df()
        hb = con.execute("SELECT prints, quarantined FROM live.heartbeat").df()
        ev = con.execute("SELECT print_ids FROM live.flow_events").df()
    kept = {x for ids in ev["print_ids"] for x in ids.split(",")}
    assert len(kept) == 51
    assert {r for r in q["reason"]} >= {"trade_date is missing or not a date", "trade_date is not a trading session"}
    assert set(q.loc[q.source == "live:hostile.parquet", "row_number"]) == {7, 8}
    unscored = q.loc[q.source == "live:hostile.parquet:unscored"]
    assert set(unscored["row_number"]) == {9, 10} and len(unscored) == 3
    # the heartbeat of the scored session counts all 53 rows it received, 2 quarantined
    assert hb.to_dict("records") == [{"prints": 53, "quarantined": 2}]


def test_scoring_the_file_again_adds_no_quarantine_rows(tmp_path, cfg):
    _, f = _batch(tmp_path)
    live = warehouse.warehouse_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
    for _ in range(2):
        score_batch_file(f, lambda: warehouse.connect(live), cfg)
    with warehouse.connect(live, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM flow.quarantine").fetchall() == [(5,)]
