"""Model-lab assets through Dagster: a launchpad fit lands in the model tables and its signals
asset reports the stored OOS signals."""

import dagster as dg
import pytest

from primeflow_lib import warehouse
from primeflow_pipelines.defs.research.models import MODEL_PRESETS, model_fits, model_signals


@pytest.mark.slow
def test_launchpad_fit_lands_in_the_model_tables(resources, store_daily_bars, tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_MODELS_DIR", str(tmp_path / "models"))
    store_daily_bars("MODL", 700, 8, "2021-01-04")
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
