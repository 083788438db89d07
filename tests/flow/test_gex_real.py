"""Gamma levels on the nine real Cboe chain exports, checked against methods written here.

* Flip: an independent implementation of the common profile method (Black-Scholes gamma from
  each row's IV, +/-20 % spot grid, first sign change linearly interpolated) must find the same
  flip as ``compute_gex``.
* Walls: walls from the export's own ``Gamma`` column (Cboe's figures) are compared with ours
  (Black-Scholes gamma from each row's IV): the same strike on most chains, and ours always
  carries at least 85 % of the export wall's exposure under the export's own gamma.

``comparison_tables`` is also what the closing note of the issue pastes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from primeflow_lib.config import default_config
from primeflow_lib.flow.gex_file import export_levels
from primeflow_lib.vendors.cboe.quotedata import read_quotedata
from primeflow_lib.vendors.cboe.trades import CboeFileError

pytestmark = pytest.mark.xdist_group("real_data")


def exports(root):
    files = sorted((root / "cboe_quotedata").glob("*/*_quotedata.csv"))
    assert len(files) == 9, files
    return files


def reference_flip(chain: pd.DataFrame, spot: float, asof: pd.Timestamp, rate: float,
                   grid_pct: float, points: int) -> float:
    """The common method, written independently of primeflow_lib: unexpired rows with IV > 0,
    T = (expiry 16:00 - as-of) / 365 days, calls +, puts -, first sign change interpolated."""
    t = ((pd.to_datetime(chain["expiry"]) + pd.Timedelta(hours=16)) - asof).dt.total_seconds().to_numpy()
    t = t / (365 * 86400)
    use = (t > 0) & (chain["iv"].to_numpy() > 0) & (chain["open_interest"].to_numpy() >= 0)
    k, t, v = chain["strike"].to_numpy()[use], t[use], chain["iv"].to_numpy()[use]
    w = np.where(chain["right"].to_numpy()[use] == "C", 1.0, -1.0) * chain["open_interest"].to_numpy()[use]
    grid = np.linspace((1 - grid_pct) * spot, (1 + grid_pct) * spot, points)
    prof = np.empty(points)
    for i, x in enumerate(grid):
        d1 = (np.log(x / k) + (rate + 0.5 * v * v) * t) / (v * np.sqrt(t))
        prof[i] = (w * norm.pdf(d1) / (x * v * np.sqrt(t)) * 100 * x * x * 0.01).sum()
    cross = np.flatnonzero(np.sign(prof[:-1]) * np.sign(prof[1:]) < 0)
    if not len(cross):
        return float("nan")
    j = cross[0]
    return float(grid[j] - prof[j] * (grid[j + 1] - grid[j]) / (prof[j + 1] - prof[j]))


def export_walls(chain: pd.DataFrame, spot: float, asof: pd.Timestamp) -> pd.Series:
    """Net GEX per strike from the export's own Gamma column (unexpired rows)."""
    live = (pd.to_datetime(chain["expiry"]) + pd.Timedelta(hours=16)) > asof
    sign = np.where(chain["right"] == "C", 1.0, -1.0)
    g = np.where(live, chain["gamma"] * sign * chain["open_interest"] * 100 * spot * spot * 0.01, 0.0)
    return pd.Series(g).groupby(chain["strike"].to_numpy()).sum()


def comparison_tables(root) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(flip table, walls table) over the nine exports."""
    cfg = default_config()["gex"]
    flips, walls = [], []
    for f in exports(root):
        el = export_levels(f, cfg)
        lv = el.result.levels.iloc[0]
        asof = pd.Timestamp(lv["asof"])
        ch = el.export.chain
        ref = reference_flip(ch, lv.spot, asof, cfg["risk_free_rate"], cfg["grid_pct"], cfg["grid_points"])
        name = f"{lv.underlying} {lv.trade_date:%Y-%m-%d}"
        flips.append({"chain": name, "source": f.parent.name, "spot": lv.spot, "flip": lv.zero_gamma,
                      "flip_reference": ref, "diff_usd": lv.zero_gamma - ref, "regime": lv.regime,
                      "expected_move": lv.expected_move, "used": int(lv.contracts_used),
                      "expired": int(lv.contracts_expired), "quarantined": int(lv.contracts_quarantined)})
        by = export_walls(ch, lv.spot, asof)
        cw, pw = by.idxmax(), by.idxmin()
        walls.append({"chain": name, "call_wall": lv.call_wall, "call_wall_export_gamma": cw,
                      "call_share": by.get(lv.call_wall, np.nan) / by.max(),
                      "put_wall": lv.put_wall, "put_wall_export_gamma": pw,
                      "put_share": by.get(lv.put_wall, np.nan) / by.min()})
    return pd.DataFrame(flips), pd.DataFrame(walls)


def test_flip_matches_an_independent_profile_and_walls_the_exports_gamma(real_data):
    flips, walls = comparison_tables(real_data)
    assert flips["flip"].notna().all()
    np.testing.assert_allclose(flips["flip"], flips["flip_reference"], rtol=1e-9)
    assert (walls["call_wall"] == walls["call_wall_export_gamma"]).sum() >= 6
    assert (walls["put_wall"] == walls["put_wall_export_gamma"]).sum() >= 7
    assert (walls["call_share"] >= 0.85).all() and (walls["put_share"] >= 0.85).all()
    assert set(flips["regime"]) <= {"POSITIVE", "NEGATIVE", "NEAR_FLIP"}


def test_expired_series_count_as_expired_whatever_their_iv(real_data):
    # SPX exported on Sunday 2023-08-20 still lists the series that expired on Friday 08-18
    f = real_data / "cboe_quotedata" / "aryamanwastaken+gamma-exposure" / "spx_quotedata.csv"
    el = export_levels(f, default_config()["gex"])
    st = el.result.stats
    ch = el.export.chain
    expired_rows = int((pd.to_datetime(ch["expiry"]).dt.date <= el.export.trade_date).sum())
    assert st["contracts_expired"] == expired_rows == 1476
    q = el.result.quarantine
    assert not q["row_json"].str.contains('"expiry": "2023-08-18"').any()
    assert st["contracts_used"] + st["contracts_expired"] + st["quarantined"] == st["rows_in"]


def test_near_flip_band(real_data):
    f = real_data / "cboe_quotedata" / "Luca-Castelli+Index-Gamma" / "ndx_quotedata.csv"
    cfg = dict(default_config()["gex"])
    lv = export_levels(f, cfg).result.levels.iloc[0]
    assert abs(lv.spot - lv.zero_gamma) <= 0.5 * lv.expected_move and lv.regime == "NEAR_FLIP"
    cfg["near_flip_band"] = 0.0
    lv0 = export_levels(f, cfg).result.levels.iloc[0]
    assert lv0.regime == ("POSITIVE" if lv0.total_gex > 0 else "NEGATIVE")
    assert lv.units == "USD of dealer delta per 1% move of the underlying"


def test_bad_exports_name_file_line_and_field(tmp_path, real_data):
    src = (real_data / "cboe_quotedata" / "aryamanwastaken+gamma-exposure" / "tsla_quotedata.csv").read_text()
    lines = src.splitlines()
    bad = tmp_path / "nospot_quotedata.csv"
    bad.write_text("\n".join([lines[0], "Tesla Inc,Change: -3.73", *lines[2:]]))
    with pytest.raises(CboeFileError, match=r"nospot_quotedata.csv: line 2: no spot"):
        read_quotedata(bad)
    bad.write_text("\n".join([*lines[:4], lines[4] + ",1", *lines[5:]]))
    with pytest.raises(CboeFileError, match=r"line 5: 23 fields, expected 22"):
        read_quotedata(bad)
    bad.write_text("\n".join([*lines[:4], lines[4].replace(",196.45,", ",zero,", 1), *lines[5:]]))
    with pytest.raises(CboeFileError, match=r"line 5: field Ask \(calls\): .zero. is not a number"):
        read_quotedata(bad)
