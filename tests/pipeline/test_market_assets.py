"""Market and prints assets through real Dagster materializations on the synthetic vendor."""

import datetime as dt

import pandas as pd
import pytest

from primeflow_lib import vendors, warehouse
from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)

ALL = [universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints]
START, END = "2024-11-26", "2024-11-29"  # spans Thanksgiving and an early close


def snapshot() -> dict[str, pd.DataFrame]:
    with warehouse.connect() as con:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df()
            for t in ("market.universe", "market.ohlcv_daily", "market.ohlcv_intraday",
                      "market.option_chain", "flow.option_prints")
        }


@pytest.mark.slow
def test_materialize_market_and_prints_then_rewrite_identically(materialize_range):
    res = materialize_range(ALL, START, END)
    assert res.success
    evals = res.get_asset_check_evaluations()
    assert evals and all(e.passed for e in evals), [(e.check_name, e.asset_key) for e in evals if not e.passed]
    first = snapshot()
    days = {dt.date(2024, 11, 26), dt.date(2024, 11, 27), dt.date(2024, 11, 29)}
    for name, df in first.items():
        assert len(df), name
        assert set(df["vendor"]) == {"synthetic"}, name
        stored = set(pd.to_datetime(df["trade_date"]).dt.date)
        if name == "market.ohlcv_daily":  # plus the warm-up history before the window
            assert stored >= days and min(stored) < min(days) and max(stored) == max(days), name
        else:
            assert stored == days, name
    assert first["market.universe"].groupby("trade_date").size().eq(6).all()
    # early close: no bar at or after 13:00 on 2024-11-29
    bars = first["market.ohlcv_intraday"]
    late = bars[(pd.to_datetime(bars["trade_date"]).dt.date == dt.date(2024, 11, 29))
                & (bars["ts"].dt.time >= dt.time(13, 0))]
    assert late.empty
    md = res.asset_materializations_for_node("market__ohlcv_daily")[0].metadata
    assert md["rows"].value == len(first["market.ohlcv_daily"]) and md["vendor"].value == "synthetic"

    assert materialize_range(ALL, START, END).success
    second = snapshot()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)


class _GappyVendor(SyntheticVendor):
    """Synthetic, except the universe is empty on one day (a vendor gap)."""

    def top_volume_tickers(self, trade_date, size, lookback=20):
        df = super().top_volume_tickers(trade_date, size, lookback)
        return df.iloc[:0] if trade_date == dt.date(2024, 11, 27) else df


def test_failed_blocking_check_stops_downstream(materialize_range, monkeypatch):
    monkeypatch.setattr(vendors, "get_vendor", lambda name, cfg: _GappyVendor.from_config(cfg))
    res = materialize_range([universe, ohlcv_daily], START, END)
    evals = {e.check_name: e for e in res.get_asset_check_evaluations()}
    assert not evals["non_empty"].passed
    assert "2024-11-27" in evals["non_empty"].metadata["sample"].value
    assert res.asset_materializations_for_node("market__ohlcv_daily") == []
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM market.ohlcv_daily").fetchone()[0] == 0


def test_non_session_partition_is_rejected(resources):
    import dagster as dg

    with pytest.raises(dg.DagsterUnknownPartitionError, match="2024-11-28"):
        dg.materialize([universe], partition_key="2024-11-28", resources=resources,
                       instance=dg.DagsterInstance.ephemeral())
