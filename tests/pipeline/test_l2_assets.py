"""market/l2_features through real Dagster materializations on a temporary DuckDB: the real
XNAS.ITCH sample from local DBN files, and the run without an L2 source (nothing written)."""

import dagster as dg
import pytest

from primeflow_lib import warehouse
from primeflow_pipelines.defs.market.l2 import NO_SOURCE, l2_features
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

DAY = "2020-12-28"  # the session of the XNAS.ITCH sample (NVDA)


def run(tmp_path, monkeypatch, config: str, day: str = DAY):
    p = tmp_path / "config.yaml"
    p.write_text(config)
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(p))
    return dg.materialize([l2_features], partition_key=day, instance=dg.DagsterInstance.ephemeral(),
                          resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
                          raise_on_error=False)


@pytest.mark.parametrize("schema", ["mbo", "mbp-10"])
def test_l2_asset_writes_the_real_sample_minutes(tmp_path, monkeypatch, real_data, schema):
    xnas = real_data / "databento" / "XNAS.ITCH"
    if not (xnas / "test_data.mbo.dbn.zst").is_file():
        pytest.skip(f"real Databento files not found under {xnas} (set PRIMEFLOW_REAL_DATA)")
    cfg = f"l2:\n  source: dbn\n  schema: {schema}\n  files:\n    nvda: {xnas}\n"
    res = run(tmp_path, monkeypatch, cfg)
    assert res.success
    assert all(e.passed for e in res.get_asset_check_evaluations())
    md = res.asset_materializations_for_node("market__l2_features")[0].metadata
    assert md["rows"].value == 1 and f"schema {schema}" in md["l2_source"].value
    assert md["per_ticker"].value["NVDA"]["messages"] == 4
    with warehouse.connect() as con:
        df = con.execute("SELECT * FROM market.l2_features").df()
    assert len(df) == 1 and df["ticker"].iloc[0] == "NVDA" and df["schema"].iloc[0] == schema
    assert df["spread"].iloc[0] > 0 and df["ofi"].notna().all()
    # a rerun replaces the session instead of adding to it
    assert run(tmp_path, monkeypatch, cfg).success
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM market.l2_features").fetchone()[0] == 1


def test_l2_asset_without_a_source_writes_nothing_and_says_so(tmp_path, monkeypatch):
    res = run(tmp_path, monkeypatch, "universe:\n  size: 6\n", day="2024-11-26")
    assert res.success
    md = res.asset_materializations_for_node("market__l2_features")[0].metadata
    assert md["l2_source"].value == "none" and md["rows"].value == 0 and md["note"].value == NO_SOURCE
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        assert con.execute("SELECT count(*) FROM market.l2_features").fetchone()[0] == 0


def test_l2_asset_fails_clearly_on_a_bad_config_or_file(tmp_path, monkeypatch):
    res = run(tmp_path, monkeypatch, "l2:\n  source: dbn\n")
    assert not res.success
    assert "l2.files" in str(res.get_step_failure_events()[0].event_specific_data.error)
    res = run(tmp_path, monkeypatch, f"l2:\n  source: dbn\n  files:\n    NVDA: {tmp_path / 'missing.dbn.zst'}\n")
    assert not res.success
    assert "missing.dbn.zst" in str(res.get_step_failure_events()[0].event_specific_data.error)
