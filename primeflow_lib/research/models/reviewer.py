"""Phi-Bot reviewer: after a backtest, propose changes from diagnostics, test each out of
sample, keep only what survives deflation.

Windows: the tuner's walk-forward folds over the bars (purge = the blend's warm-up). The
**diagnostic window** is every bar before the first test window minus the purge; the proposals
are derived from it only. The **evaluation** is every test window together: each proposal and
the reviewed (base) config are run by the engine over the whole series (signals are causal) and
scored on those bars only.

Proposals (each a RunConfig, from the diagnostic window):

* ``drop:<indicator>``: an indicator whose standalone backtest lost money (Sharpe < 0), when
  the blend has more than one;
* ``stand_aside:<REGIME>``: a ``regime_weighted`` blend with an empty row for a MFT regime in
  which the base lost money while holding a position (at least 20 such bars);
* ``threshold:<T>``: the entry threshold raised by 0.1 when the base traded on more than 10 % of
  the bars (many marginal signals pay costs);
* ``blend:phiai``: walk-forward Sharpe weights (the ``phiai`` blend) for a multi-indicator blend
  that does not use them.

Decision: every candidate's OOS Sharpe is deflated against all candidates (base included,
``N`` = their number): ``DSR``; the PBO (CSCV) is computed over all candidates' OOS returns.
A proposal is **kept** only if its DSR is above the base's and the PBO is <= 0.5; the record
says for every proposal why it was kept or rejected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from primeflow_lib.research import overfit
from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.engine import simulate
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import max_lookback
from primeflow_lib.research.metrics import simple_returns
from primeflow_lib.research.regime import REGIMES, regime_probabilities
from primeflow_lib.research.regime import lookback as regime_lookback
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import blended_signal, indicator_strategy_returns
from primeflow_lib.research.timeframes import periods_per_year
from primeflow_lib.research.tuning.folds import FoldSpec, make_folds

MIN_REGIME_BARS = 20


@dataclass
class Review:
    review_id: str
    symbol: str
    table: pd.DataFrame
    diagnostics: dict
    eval_bars: int


def _returns(cfg: RunConfig, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    signal, *_ = blended_signal(cfg, frame)
    run = simulate(frame, signal, cfg.engine_params())
    return simple_returns(run.equity.to_numpy(), cfg.capital), run.position.to_numpy()


def propose(config: RunConfig, frame: pd.DataFrame, diag_end: int) -> tuple[list[tuple[str, str, RunConfig]], dict]:
    """The proposals and the diagnostics they came from (bars ``[0, diag_end)`` only)."""
    d = frame.iloc[:diag_end]
    params = config.engine_params()
    r, pos = _returns(config, d)
    out: list[tuple[str, str, RunConfig]] = []
    diag: dict = {"bars": int(diag_end)}
    specs = {k: s.params for k, s in config.indicators.items()}
    if len(specs) > 1:
        from primeflow_lib.research.indicators import compute_signals

        sigs = compute_signals(d, specs)
        alone = indicator_strategy_returns(d, sigs, params)
        diag["indicator_sharpe"] = {}
        for k in specs:
            x = alone[k].dropna().to_numpy()
            s = overfit.sharpe_per_period(x) if len(x) > 2 else 0.0
            diag["indicator_sharpe"][k] = s
            if s < 0:
                keep = {kk: vv for kk, vv in config.indicators.items() if kk != k}
                w = config.blend.weights
                blend = {"weights": {kk: w[kk] for kk in keep} if w else None,
                         "regime_weights": {rr: {kk: v for kk, v in row.items() if kk != k}
                                            for rr, row in (config.blend.regime_weights or {}).items()} or None}
                out.append((f"drop:{k}", f"{k} alone lost money in the diagnostic window "
                            f"(per-bar Sharpe {s:.3f})", config.replace(indicators=keep, blend=blend)))
    regime = regime_probabilities(d, config.regime)["regime"].to_numpy(dtype=object)
    held = np.r_[0.0, pos[:-1]] != 0  # a bar's return belongs to the position held into it
    diag["regime_mean_return"] = {}
    for reg in REGIMES:
        m = held & (regime == reg)
        if m.sum() >= MIN_REGIME_BARS:
            mean = float(np.mean(r[m]))
            diag["regime_mean_return"][reg] = mean
            if mean < 0 and config.blend.mode in ("weighted_sum", "regime_weighted"):
                rw = dict(config.blend.regime_weights or {})
                rw[reg] = {}
                out.append((f"stand_aside:{reg}", f"the blend lost while holding in {reg} "
                            f"({int(m.sum())} bars, mean {mean:.5f} per bar)",
                            config.replace(blend={"mode": "regime_weighted", "regime_weights": rw})))
    changes = float(np.mean(np.diff(np.sign(pos)) != 0)) if len(pos) > 1 else 0.0
    diag["position_change_rate"] = changes
    if changes > 0.10 and config.entry.threshold <= 0.8:
        t = round(config.entry.threshold + 0.1, 4)
        out.append((f"threshold:{t:g}", f"the position changed on {changes:.0%} of the bars: raise "
                    f"the entry threshold to {t:g}", config.replace(entry={"threshold": t})))
    if len(specs) > 1 and config.blend.mode != "phiai":
        out.append(("blend:phiai", "weigh indicators by their own walk-forward Sharpe",
                    config.replace(blend={"mode": "phiai", "weights": None, "regime_weights": None})))
    return out, diag


def review(config: RunConfig, bars: pd.DataFrame, folds: FoldSpec | None = None, pbo_splits: int = 16) -> Review:
    """Review ``config`` on ``bars`` (see the module docstring)."""
    config.check_runnable()
    if config.strategy != "signals":
        raise ResearchError(f"strategy: {config.strategy!r}; the reviewer reviews 'signals' configs")
    symbol = config.dataset.symbol or config.dataset.csv or "bars"
    frame = validate_bars(bars.drop(columns=["ticker", "vendor", "trade_date"], errors="ignore"), symbol)
    warm = max(max_lookback({k: s.params for k, s in config.indicators.items()}), regime_lookback(config.regime))
    if config.blend.mode == "phiai":
        warm += config.blend.min_train
    fl = make_folds(len(frame), folds or FoldSpec(n_folds=4), warm + 1, first=warm + 1, min_bars=30)
    diag_end = fl[0].train_end
    proposals, diag = propose(config, frame, diag_end)
    idx = np.concatenate([np.arange(f.test_start, f.test_end) for f in fl])
    cands = [("base", "the reviewed configuration", config), *proposals]
    rets = np.column_stack([_returns(c, frame)[0][idx] for _, _, c in cands])
    srs = np.array([overfit.sharpe_per_period(rets[:, j]) for j in range(rets.shape[1])])
    splits = pbo_splits
    while splits > 2 and len(idx) < 2 * splits:
        splits -= 2
    pbo = overfit.pbo(rets, splits).pbo if rets.shape[1] >= 2 else math.nan
    ppy = periods_per_year(config.dataset.timeframe)
    dsr = [overfit.deflated_sharpe_ratio(rets[:, j], srs) if len(srs) >= 2 else math.nan for j in range(len(cands))]
    rows = []
    for j, (name, reason, cfg) in enumerate(cands):
        if name == "base":
            ok, why = False, "the reference every proposal must beat"
        elif not dsr[j] > dsr[0]:
            ok, why = False, f"rejected: DSR {dsr[j]:.3f} does not improve on the base's {dsr[0]:.3f}"
        elif not pbo <= 0.5:
            ok, why = False, f"rejected: PBO {pbo:.2f} > 0.5 (choosing among these proposals is likely overfit)"
        else:
            ok, why = True, f"kept: DSR {dsr[j]:.3f} > base {dsr[0]:.3f} and PBO {pbo:.2f} <= 0.5"
        rows.append({"proposal": name, "reason": reason, "run_config": cfg.to_json(indent=None),
                     "oos_sharpe": srs[j] * math.sqrt(ppy), "dsr": dsr[j], "pbo": pbo, "accepted": ok,
                     "decision": why})
    rid = hashlib.sha256(json.dumps({"cfg": config.canonical(), "folds": [f.__dict__ for f in fl],
                                     "data": data_hash(frame)}, sort_keys=True).encode()).hexdigest()[:16]
    return Review(rid, symbol, pd.DataFrame(rows), diag, int(len(idx)))


def write_review(con, rev: Review) -> str:
    from primeflow_lib import warehouse
    from primeflow_lib.research.history import ensure_tables
    from primeflow_lib.schema.research import REVIEWER_PROPOSALS

    ensure_tables(con)
    df = rev.table.copy()
    df.insert(0, "review_id", rev.review_id)
    df.insert(1, "created_at", dt.datetime.now(dt.UTC).replace(tzinfo=None))
    df.insert(2, "symbol", rev.symbol)
    for c in ("oos_sharpe", "dsr", "pbo"):
        df[c] = pd.array([v if math.isfinite(v) else None for v in df[c]], dtype="Float64")
    with warehouse.transaction(con):
        warehouse.replace_where(con, REVIEWER_PROPOSALS, df[REVIEWER_PROPOSALS.column_names],
                                {"review_id": rev.review_id})
    return rev.review_id
