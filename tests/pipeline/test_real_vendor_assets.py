"""The file vendors as Dagster vendors: flow/option_prints from DBN files and from a Cboe
DataShop file (real samples), through a real materialization."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from primeflow_lib import warehouse as db
from primeflow_lib.schema.market import UNIVERSE
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("real_data")]


@pytest.mark.parametrize(
    ("vendor", "folder", "day", "ticker", "rows", "row_vendor"),
    [
        ("dbn", "databento/OPRA.PILLAR", "2025-02-20", "AAPL", 4, "databento"),
        ("cboe", "cboe_trades", "2016-06-01", "VIX", 2295, "cboe"),
    ],
)
def test_option_prints_asset_from_real_files(real_data, tmp_path, monkeypatch, vendor, folder, day, ticker,
                                             rows, row_vendor):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"vendors:\n  prints: {vendor}\n  {vendor}:\n    path: {real_data / folder}\n")
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(cfg))
    with db.connect() as con:
        db.ensure_tables(con)
        db.replace_partition(con, UNIVERSE, pd.DataFrame({
            "trade_date": [pd.Timestamp(day).date()], "rank": [1], "ticker": [ticker],
            "avg_volume": [1e6], "last_close": [None], "vendor": ["test"]}), pd.Timestamp(day).date())
    res = dg.materialize([option_prints], partition_key=day, raise_on_error=False,
                         resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
                         instance=dg.DagsterInstance.ephemeral())
    assert res.success, [e.step_failure_data.error.message for e in res.get_step_failure_events()]
    with db.connect() as con:
        got = con.execute("SELECT count(*), any_value(vendor), count(vendor_sequence) FROM flow.option_prints "
                          "WHERE trade_date = ?", [pd.Timestamp(day).date()]).fetchone()
    assert got == (rows, row_vendor, rows)
