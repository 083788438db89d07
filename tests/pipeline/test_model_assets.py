"""Model-lab assets through Dagster: a launchpad fit lands in the model tables and its signals
asset reports the stored OOS signals."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_lib.research.history import ensure_tables
from primeflow_pipelines.defs.research.models import MODEL_PRESETS, model_fits, model_signals


def _store_bars(n: int = 700) -> None:
    rng = np.random.default_rng(8)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    o = np.r_[c[0], c[:-1]]
    days = pd.bdate_range("2021-01-04", periods=n).date
    df = pd.DataFrame({"ticker": "MODL", "trade_date": days, "open": o, "high": np.maximum(o, c) * 1.004,
                       "low": np.minimum(o, c) * 0.996, "close": c, "volume": 1e6, "vwap": c,
                       "vendor": "synthetic"})
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        ensure_tables(con)
        cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                          "table_schema = 'market' AND table_name = 'ohlcv_daily'").fetchall()]
        for col in cols:
            if col not in df:
                df[col] = None
        con.register("b", df[cols])
        con.execute("INSERT INTO market.ohlcv_daily SELECT * FROM b")


@pytest.mark.slow
def test_launchpad_fit_lands_in_the_model_tables(resources, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_MODELS_DIR", str(tmp_path / "models"))
    _store_bars()
    cfg = {"preset": "direction_daily", "symbol": "MODL", "models": "logistic", "gates": True}
    res = dg.materialize([model_fits, model_signals], resources=resources,
                         instance=dg.DagsterInstance.ephemeral(),
                         run_config={"ops": {"research__model_fits": {"config": cfg},
                                             "research__model_signals": {"config": cfg}}})
    assert res.success
    md = res.asset_materializations_for_node("research__model_fits")[0].metadata
    fid = md["fit_id"].value
    assert md["verdict"].value.startswith(("no edge", "edge"))
    assert "majority" in md["model_vs_baselines"].value and "persistence" in md["model_vs_baselines"].value
    assert "shuffled_labels" in md["gates"].value
    assert (tmp_path / "models").is_dir() and any((tmp_path / "models").iterdir())
    md2 = res.asset_materializations_for_node("research__model_signals")[0].metadata
    assert md2["fit_id"].value == fid
    with warehouse.connect() as con:
        fits = con.execute("SELECT count(*) FROM research.model_fits WHERE fit_id = ?", [fid]).fetchone()[0]
        sig = con.execute("SELECT count(*) FROM research.model_signals WHERE fit_id = ?", [fid]).fetchone()[0]
        gates = con.execute("SELECT count(*) FROM research.model_gates WHERE fit_id = ?", [fid]).fetchone()[0]
    n_folds = MODEL_PRESETS["direction_daily"]["n_folds"]
    assert fits == 4 * (n_folds + 1) and gates == 3 and sig == md2["rows"].value > 0
