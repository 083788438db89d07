"""Momentum rotation across a universe: hold the top-K tickers by momentum, re-ranked on a
schedule.

Rules
-----
* Momentum of ticker ``i`` at the close of bar ``t``: ``C_{i,t} / C_{i,t-L} - 1`` with
  ``L = lookback`` (closes forward-filled over a ticker's missing bars; NaN before it has L bars).
* Rebalance decisions are taken at the close of bars ``t = L, L + every, L + 2*every, ...`` and
  fill at the next open (``fill="next_open"``) or at that close (``fill="close"``), with the same
  slippage and commission arithmetic as :mod:`primeflow_lib.research.engine`.
* The target set is the ``top_k`` tickers by momentum (ties broken by ticker name); with
  ``absolute`` only tickers with momentum > 0 qualify, so the book can be partly or fully cash.
* Tickers leaving the set are sold first; tickers joining it are bought with
  ``size_value x equity / top_k`` USD each (``percent_equity``; equity valued at the fill prices)
  or ``size_value`` USD each (``fixed_cash``), never more than the cash available. Holdings that
  stay in the set are **not** resized, so each holding spell is one clean trade.
* Long only; stops and time exits do not apply. Exit reason ``rebalance`` (or ``open`` at the end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from primeflow_lib.research.engine import TRADE_COLUMNS, EngineParams


@dataclass(frozen=True)
class RotationOutput:
    """Equity and holdings of a rotation run."""

    equity: pd.Series
    holdings: pd.DataFrame  # shares per ticker at each close
    names_held: pd.Series  # number of tickers held at each close
    close: pd.DataFrame  # forward-filled closes used for valuation
    trades: pd.DataFrame


def simulate_rotation(
    panel: pd.DataFrame,
    top_k: int,
    lookback: int,
    rebalance_every: int,
    absolute: bool,
    params: EngineParams,
) -> RotationOutput:
    """Run the rotation on a validated long panel (``ticker, ts, open, high, low, close,
    volume``; see :func:`primeflow_lib.research.data.validate_panel`)."""
    close = panel.pivot(index="ts", columns="ticker", values="close").sort_index()
    opens = panel.pivot(index="ts", columns="ticker", values="open").reindex(close.index)
    tickers = list(close.columns)
    cl = close.ffill().to_numpy()
    op = opens.to_numpy()
    n, m = cl.shape
    mom = cl / np.vstack([np.full((lookback, m), np.nan), cl[:-lookback]])[:n] - 1.0

    cpct, cps, slip = params.commission_pct, params.commission_per_share, params.slippage_pct
    fill_close = params.fill == "close"
    cash = params.capital
    shares = np.zeros(m)
    entry_px = np.zeros(m)
    entry_fee = np.zeros(m)
    entry_bar = np.full(m, -1)
    cash_at = np.full(n, np.nan)
    hold_at = np.full((n, m), np.nan)
    cash_at[0] = cash
    hold_at[0] = 0.0
    rows: list[tuple] = []
    order = np.argsort(np.array(tickers))  # ties broken by ticker name

    for t in range(lookback, n, rebalance_every):  # one step per rebalance, not per bar
        f = t if fill_close else t + 1
        if f >= n:
            break
        px = cl[f] if fill_close else op[f]
        score = mom[t]
        ok = np.isfinite(score) & np.isfinite(px)
        if absolute:
            ok &= score > 0
        cand = order[ok[order]]
        ranked = cand[np.argsort(-score[cand], kind="stable")]
        target = set(ranked[:top_k].tolist())

        for i in np.flatnonzero(shares > 0):
            if i in target or not np.isfinite(px[i]):
                continue
            fill = px[i] * (1.0 - slip)
            fee = shares[i] * fill * cpct + shares[i] * cps
            cash += shares[i] * fill - fee
            pnl = shares[i] * (fill - entry_px[i]) - entry_fee[i] - fee
            rows.append(
                (
                    tickers[i],
                    entry_bar[i],
                    f,
                    entry_px[i],
                    fill,
                    shares[i],
                    pnl,
                    entry_fee[i] + fee,
                    "rebalance",
                )
            )
            shares[i] = 0.0
        held_value = float(np.nansum(shares * np.where(np.isfinite(px), px, cl[f])))
        equity_now = cash + held_value
        for i in sorted(target - set(np.flatnonzero(shares > 0).tolist())):
            fill = px[i] * (1.0 + slip)
            budget = (
                params.size_value
                if params.size_mode == "fixed_cash"
                else (params.size_value * equity_now / top_k)
            )
            budget = min(budget, cash)
            q = budget / (fill * (1.0 + cpct) + cps)
            if not params.fractional:
                q = np.floor(q + 1e-9)
            if q <= 0:
                continue
            fee = q * fill * cpct + q * cps
            cash -= q * fill + fee
            shares[i], entry_px[i], entry_fee[i], entry_bar[i] = q, fill, fee, f
        cash_at[f] = cash
        hold_at[f] = shares

    cash_series = pd.Series(cash_at).ffill().to_numpy()
    holdings = pd.DataFrame(hold_at, index=close.index, columns=tickers).ffill()
    equity = cash_series + np.nansum(holdings.to_numpy() * cl, axis=1)
    for i in np.flatnonzero(shares > 0):
        pnl = shares[i] * (cl[-1, i] - entry_px[i]) - entry_fee[i]
        rows.append(
            (
                tickers[i],
                entry_bar[i],
                n - 1,
                entry_px[i],
                cl[-1, i],
                shares[i],
                pnl,
                entry_fee[i],
                "open",
            )
        )
    idx = close.index.to_numpy()
    tr = pd.DataFrame(
        rows,
        columns=[
            "ticker",
            "entry_bar",
            "exit_bar",
            "entry_price",
            "exit_price",
            "qty",
            "pnl",
            "fees",
            "exit_reason",
        ],
    )
    tr = tr.sort_values(["entry_bar", "ticker"], kind="stable").reset_index(drop=True)
    eb, xb = tr["entry_bar"].to_numpy(np.int64), tr["exit_bar"].to_numpy(np.int64)
    trades = pd.DataFrame(
        {
            "trade_no": np.arange(1, len(tr) + 1, dtype=np.int64),
            "side": "long",
            "entry_ts": idx[eb],
            "exit_ts": idx[xb],
            "entry_price": tr["entry_price"].to_numpy(float),
            "exit_price": tr["exit_price"].to_numpy(float),
            "qty": tr["qty"].to_numpy(float),
            "pnl": tr["pnl"].to_numpy(float),
            "ret": (tr["pnl"] / (tr["qty"] * tr["entry_price"])).to_numpy(float),
            "fees": tr["fees"].to_numpy(float),
            "exit_reason": tr["exit_reason"].astype(object).to_numpy(),
            "bars_held": xb - eb,
            "is_open": (tr["exit_reason"] == "open").to_numpy(bool),
            "entry_bar": eb,
            "exit_bar": xb,
        },
        columns=list(TRADE_COLUMNS),
    )
    trades.insert(1, "ticker", tr["ticker"].astype(object).to_numpy())
    return RotationOutput(
        equity=pd.Series(equity, index=close.index, name="equity"),
        holdings=holdings,
        names_held=pd.Series(
            (holdings.to_numpy() > 0).sum(axis=1).astype(float), index=close.index
        ),
        close=pd.DataFrame(cl, index=close.index, columns=tickers),
        trades=trades,
    )
