"""Market context for flow events (``flow.flow_context``), strictly causal.

Every value attached to an event at time ``t`` (the event's ``last_ts``, America/New_York wall
time) is computed only from data available at ``t``:

* **Bars used**: the 1-minute bars of the event's ticker and session whose bar **closed** at or
  before ``t`` (bar start + 1 minute <= ``t``). The last such bar is ``bar_ts``.
* ``spot``: that bar's close (``spot_source = "bar"``). Before the first bar of the session has
  closed, the previous session's daily close is used (``spot_source = "prev_close"``); with
  neither, ``spot`` is null (``"none"``) and every strategy gate that needs it fails.
* ``vwap``: session VWAP of the closed bars: sum(bar vwap x volume) / sum(volume) (a bar without a
  vwap uses (high + low + close) / 3). ``vwap_dist = spot / vwap - 1``.
* ``rvol``: time-of-day-aware relative volume: the session's cumulative share volume through the
  last closed bar divided by the mean cumulative volume at the **same minute of the session** over
  the previous ``flow.rvol_lookback_sessions`` sessions (20) of the bars passed in. Sessions in
  which the ticker has no bars are skipped. With fewer than ``flow.rvol_min_sessions`` sessions of
  history ``rvol`` is null and ``rvol_ok = false`` (gates needing RVOL then fail).
* ``ret_15m`` / ``trend_15m``: return from the close of the bar that closed 15 minutes before the
  last closed bar (same session) to ``spot``; ``UP`` above ``+flow.trend_15m_threshold``, ``DOWN``
  below its negative, else ``FLAT`` (``FLAT`` when fewer than 15 minutes of bars exist).
* ``daily_ret`` / ``daily_trend``: the ticker's return over ``market_regime.trend_lookback_days``
  daily closes ending at the **previous** session; ``UP`` above ``market_regime.bull_return``,
  ``DOWN`` below ``market_regime.bear_return``, else ``FLAT``; ``UNKNOWN`` without enough days.
* Level breaks: ``prev_high`` / ``prev_low`` / ``prev_close`` of the previous session's daily bar;
  ``above_pdh = spot > prev_high``, ``below_pdl = spot < prev_low``. Opening range: high / low of
  the bars starting in the first ``flow.opening_range_minutes`` (30) of the session, known once
  the range's last bar has closed; ``or_break`` is ``UP`` (spot above), ``DOWN`` (below),
  ``INSIDE``, or ``PENDING`` before the range is complete.
* ``regime``: from the benchmark's (``market_regime.benchmark``) daily bars **up to the previous
  session**: ``HIGH_VOL`` when the annualised realised volatility of the last
  ``trend_lookback_days`` daily log returns exceeds ``market_regime.high_vol``; else ``BULL`` /
  ``BEAR`` when the ``trend_lookback_days`` return is above ``bull_return`` / below
  ``bear_return``; else ``NEUTRAL``; ``UNKNOWN`` without benchmark history.

* ``gex_*``: dealer gamma levels of the ticker from the latest ``market.gamma_exposure`` row dated
  **before** the event's session (total GEX, flip, walls, the regime: spot above / below the
  flip, and distances ``level / spot - 1``); see :func:`primeflow_lib.flow.gex.gex_context`.
* ``l2_*``: level-2 book features of the ticker from the ``market.l2_features`` minute of the
  same session that closed last at or before the event (never the minute holding it), when L2
  data is stored; null otherwise; see :func:`primeflow_lib.flow.l2_context.l2_context`.

Passing bars that end after ``t`` (a full day in a replay), gamma levels of the event's own
session or later, or L2 minutes closing after ``t``, never changes the context at ``t``: this is
tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import categorical, factorize
from primeflow_lib.flow.classify import to_ns
from primeflow_lib.flow.gex import gex_context
from primeflow_lib.flow.l2_context import l2_context
from primeflow_lib.schema.flow import FLOW_CONTEXT

NS_MIN = 60_000_000_000
NS_DAY = 86_400_000_000_000
SESSION_OPEN_NS = (9 * 60 + 30) * NS_MIN  # 09:30 America/New_York
SESSION_MINUTES = 390
REGIMES = ("BULL", "BEAR", "NEUTRAL", "HIGH_VOL", "UNKNOWN")

#: the columns of a context row, as declared for ``flow.flow_context``
CONTEXT_COLUMNS = FLOW_CONTEXT.column_names


TREND_LABELS = ("DOWN", "FLAT", "UP", "UNKNOWN")


def _trend_label(x: np.ndarray, up: float, down: float, unknown: str = "FLAT") -> pd.Categorical:
    code = np.where(x > up, 2, np.where(x < down, 0, 1))
    code[~np.isfinite(x)] = TREND_LABELS.index(unknown)
    return categorical(code, TREND_LABELS)


def bar_features(bars_1m: pd.DataFrame, flow_cfg: dict[str, Any]) -> pd.DataFrame:
    """Per-bar context, each value as known at the **close** of that bar.

    Returns a frame sorted by ``(ticker, ts)`` with ``ticker_code, ts_ns, close_ns, date_ns,
    minute, close, vwap, session_volume, rvol, rvol_sessions, ret_15m, or_high, or_low,
    or_ready``.
    """
    cols = ["ticker", "ts", "open", "high", "low", "close", "volume"]
    if bars_1m is None or len(bars_1m) == 0:
        return pd.DataFrame(columns=[*cols, "ts_ns"])
    b = bars_1m[[c for c in (*cols, "vwap") if c in bars_1m.columns]]
    tk0, tk_u = factorize(b["ticker"])
    ts0 = to_ns(b["ts"])
    # codes in sorted-ticker order so the result is sorted by (ticker, ts)
    rank = np.argsort(np.argsort(np.asarray(tk_u, dtype=object).astype(str)))
    tk0 = rank[tk0]
    tk_u = np.sort(np.asarray(tk_u, dtype=object).astype(str))
    order = np.lexsort((ts0, tk0))
    b = b.take(order).reset_index(drop=True)
    tk = tk0[order]
    ts = ts0[order]
    date_ns = ts - ts % NS_DAY
    minute = (ts - date_ns - SESSION_OPEN_NS) // NS_MIN
    close = b["close"].to_numpy(np.float64)
    high = b["high"].to_numpy(np.float64)
    low = b["low"].to_numpy(np.float64)
    vol = np.nan_to_num(b["volume"].to_numpy(np.float64)).clip(0)
    bvw = b["vwap"].to_numpy(np.float64) if "vwap" in b else np.full(len(b), np.nan)
    bvw = np.where(np.isfinite(bvw) & (bvw > 0), bvw, (high + low + close) / 3.0)

    grp_start = np.r_[True, (tk[1:] != tk[:-1]) | (date_ns[1:] != date_ns[:-1])]
    gid = np.cumsum(grp_start) - 1
    starts = np.flatnonzero(grp_start)

    def gcum(x: np.ndarray) -> np.ndarray:
        # a running sum that restarts at each (ticker, session): one global cumsum minus the
        # prefix would round differently depending on which other bars the frame holds (a
        # backfill run over other sessions would store a VWAP a few ulps off)
        return pd.Series(x).groupby(gid, sort=False).cumsum().to_numpy()

    cum_v = gcum(vol)
    cum_pv = gcum(bvw * vol)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(cum_v > 0, cum_pv / cum_v, np.nan)
    # fall back to the running mean of typical prices when there is no volume yet
    vwap = np.where(np.isfinite(vwap), vwap, bvw)

    # RVOL: dense [ticker, session, minute] cumulative volume
    sess_u, s_idx = np.unique(date_ns, return_inverse=True)
    nt, ns_ = len(tk_u), len(sess_u)
    in_sess = (minute >= 0) & (minute < SESSION_MINUTES)
    dense = np.zeros((nt, ns_, SESSION_MINUTES))
    dense[tk[in_sess], s_idx[in_sess], minute[in_sess]] = cum_v[in_sess]
    np.maximum.accumulate(dense, axis=2, out=dense)
    has = np.zeros((nt, ns_), bool)
    has[tk, s_idx] = True
    lookback = int(flow_cfg["rvol_lookback_sessions"])
    cs = np.concatenate([np.zeros((nt, 1, SESSION_MINUTES)), np.cumsum(dense, axis=1)], axis=1)
    ccount = np.concatenate([np.zeros((nt, 1), int), np.cumsum(has, axis=1)], axis=1)
    hi = np.arange(ns_)  # previous sessions: [s - lookback, s)
    lo = np.maximum(hi - lookback, 0)
    sums = cs[:, hi, :] - cs[:, lo, :]
    cnts = ccount[:, hi] - ccount[:, lo]
    rv_sessions = cnts[tk, s_idx]
    mc = np.minimum(np.maximum(minute, 0), SESSION_MINUTES - 1)
    expected_sum = sums[tk, s_idx, mc]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = expected_sum / rv_sessions
        rvol = np.where(
            (rv_sessions >= int(flow_cfg["rvol_min_sessions"])) & (expected > 0) & in_sess,
            cum_v / expected,
            np.nan,
        )

    # 15-minute return within the session
    key = tk.astype(np.int64) * 10_000_000_000 + ts // 1_000_000_000
    j = np.searchsorted(key, key - 15 * 60, side="right") - 1
    okj = (j >= 0) & (tk[np.maximum(j, 0)] == tk) & (date_ns[np.maximum(j, 0)] == date_ns)
    with np.errstate(invalid="ignore", divide="ignore"):
        ret15 = np.where(okj, close / close[np.maximum(j, 0)] - 1.0, np.nan)

    # opening range
    orm = int(flow_cfg["opening_range_minutes"])
    in_or = (minute >= 0) & (minute < orm)
    or_h = np.maximum.reduceat(np.where(in_or, high, -np.inf), starts)[gid]
    or_l = np.minimum.reduceat(np.where(in_or, low, np.inf), starts)[gid]
    or_ready = (minute >= orm - 1) & np.isfinite(or_h) & np.isfinite(or_l)

    out = pd.DataFrame(
        {
            "ticker_code": tk.astype(np.int64),
            "ts_ns": ts,
            "close_ns": ts + NS_MIN,
            "date_ns": date_ns,
            "minute": minute,
            "close": close,
            "vwap": vwap,
            "session_volume": cum_v,
            "rvol": rvol,
            "rvol_sessions": rv_sessions.astype(np.int64),
            "ret_15m": ret15,
            "or_high": np.where(or_ready, or_h, np.nan),
            "or_low": np.where(or_ready, or_l, np.nan),
            "or_ready": or_ready,
        }
    )
    out.attrs["tickers"] = tk_u
    return out


def daily_features(daily_bars: pd.DataFrame, regime_cfg: dict[str, Any]) -> pd.DataFrame:
    """Per (ticker, daily row): ``date_ns, high, low, close, daily_ret`` (return over
    ``trend_lookback_days`` closes ending at this row). Sorted by ticker, date."""
    if daily_bars is None or len(daily_bars) == 0:
        return pd.DataFrame(columns=["ticker", "date_ns", "high", "low", "close", "daily_ret"])
    d = daily_bars[["ticker", "trade_date", "high", "low", "close"]].copy()
    d["date_ns"] = to_ns(d["trade_date"])
    d = d.sort_values(["ticker", "date_ns"], kind="stable").reset_index(drop=True)
    n = int(regime_cfg["trend_lookback_days"])
    prev = d.groupby("ticker", sort=False)["close"].shift(n)
    d["daily_ret"] = d["close"] / prev - 1.0
    return d


def regime_series(daily_bars: pd.DataFrame, regime_cfg: dict[str, Any]) -> pd.DataFrame:
    """The benchmark's regime per daily row (as of that row's close): ``date_ns, regime_ret,
    regime_vol, regime``. Callers use the row of the previous session."""
    bench = str(regime_cfg["benchmark"])
    if daily_bars is None or len(daily_bars) == 0:
        return pd.DataFrame(columns=["date_ns", "regime_ret", "regime_vol", "regime"])
    d = daily_bars.loc[daily_bars["ticker"] == bench, ["trade_date", "close"]].copy()
    d["date_ns"] = to_ns(d["trade_date"])
    d = d.sort_values("date_ns").reset_index(drop=True)
    if d.empty:
        return pd.DataFrame(columns=["date_ns", "regime_ret", "regime_vol", "regime"])
    n = int(regime_cfg["trend_lookback_days"])
    close = d["close"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.r_[np.nan, np.diff(np.log(close))]
    d["regime_ret"] = d["close"] / d["close"].shift(n) - 1.0
    d["regime_vol"] = pd.Series(lr).rolling(n, min_periods=n).std(ddof=1).to_numpy() * np.sqrt(252)
    ret = d["regime_ret"].to_numpy(np.float64)
    vol = d["regime_vol"].to_numpy(np.float64)
    lab = np.where(
        vol > float(regime_cfg["high_vol"]),
        "HIGH_VOL",
        np.where(
            ret > float(regime_cfg["bull_return"]),
            "BULL",
            np.where(ret < float(regime_cfg["bear_return"]), "BEAR", "NEUTRAL"),
        ),
    ).astype(object)
    lab[~(np.isfinite(ret) & np.isfinite(vol))] = "UNKNOWN"
    d["regime"] = lab
    return d[["date_ns", "regime_ret", "regime_vol", "regime"]]


@dataclass(frozen=True)
class ContextTables:
    """What the context of any event is looked up in, prepared once: per-bar features (sorted by
    ticker and time, with their search keys), per-day features of the tickers, the benchmark's
    regime per day, and the gamma levels. Build with :func:`context_tables`, read with
    :func:`context_rows`; a streaming caller keeps one per session and rebuilds it when new bars
    arrive."""

    bars: pd.DataFrame
    bar_keys: np.ndarray
    daily: pd.DataFrame
    daily_tickers: np.ndarray
    daily_keys: np.ndarray
    regime: pd.DataFrame
    regime_codes: np.ndarray
    gamma: pd.DataFrame | None
    flow_cfg: dict[str, Any]
    regime_cfg: dict[str, Any]
    #: ``market.l2_features`` minutes (None: the ``l2_*`` fields stay null) and how old a
    #: minute may be for an event (``l2.max_age_minutes``)
    l2: pd.DataFrame | None = None
    l2_max_age_minutes: int = 0


def context_tables(
    bars_1m: pd.DataFrame | None,
    daily_bars: pd.DataFrame | None,
    cfg: dict[str, Any],
    gamma: pd.DataFrame | None = None,
    l2: pd.DataFrame | None = None,
) -> ContextTables:
    """Prepare :class:`ContextTables` from the inputs :func:`build_context` takes."""
    flow_cfg, reg_cfg = cfg["flow"], cfg["market_regime"]
    bf = bar_features(bars_1m, flow_cfg)
    bkey = (
        bf["ticker_code"].to_numpy(np.int64) * 10_000_000_000 + bf["ts_ns"].to_numpy(np.int64) // 1_000_000_000
        if len(bf) else np.zeros(0, np.int64)
    )  # fmt: skip
    df_ = daily_features(daily_bars, reg_cfg)
    if len(df_):
        d_u, dtk = np.unique(df_["ticker"].astype(str).to_numpy(dtype=object).astype(str), return_inverse=True)
        dkey = dtk.reshape(-1) * 100_000 + df_["date_ns"].to_numpy(np.int64) // NS_DAY
    else:
        d_u, dkey = np.zeros(0, dtype=str), np.zeros(0, np.int64)
    rg = regime_series(daily_bars, reg_cfg)
    rcode = pd.Categorical(rg["regime"].to_numpy(dtype=object), categories=REGIMES).codes if len(rg) else np.zeros(0, np.int8)
    has_l2 = l2 is not None and len(l2) > 0
    return ContextTables(bf, bkey, df_, d_u, dkey, rg, np.asarray(rcode), gamma, flow_cfg, reg_cfg,
                         l2 if has_l2 else None, int(cfg["l2"]["max_age_minutes"]) if has_l2 else 0)


def build_context(
    events: pd.DataFrame,
    bars_1m: pd.DataFrame,
    daily_bars: pd.DataFrame,
    cfg: dict[str, Any],
    gamma: pd.DataFrame | None = None,
    l2: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Context rows (``flow.flow_context`` columns) aligned with ``events`` (same order).

    Args:
        events: frame with ``trade_date, event_id, ticker, last_ts``.
        bars_1m: ``market.ohlcv_intraday`` rows: the event sessions *and* the previous
            ``flow.rvol_lookback_sessions`` sessions (for RVOL). Bars after an event are ignored.
        daily_bars: ``market.ohlcv_daily`` rows for the tickers and the benchmark, covering at
            least ``market_regime.trend_lookback_days + 1`` sessions before the first event
            session (rows on or after an event's session are ignored for that event).
        cfg: the full config (sections ``flow`` and ``market_regime``).
        gamma: ``market.gamma_exposure`` rows of the tickers (only rows dated before an
            event's session are used for it); None leaves the ``gex_*`` fields unknown.
        l2: ``market.l2_features`` rows of the tickers for the events' sessions (only minutes
            closed at or before an event are used for it, at most ``l2.max_age_minutes`` old);
            None or empty leaves the ``l2_*`` fields null.
    """
    return context_rows(events, context_tables(bars_1m, daily_bars, cfg, gamma, l2))


def context_rows(events: pd.DataFrame, tables: ContextTables) -> pd.DataFrame:
    """Context rows for ``events`` (``trade_date, event_id, ticker, last_ts``) looked up in
    prepared :class:`ContextTables` (see :func:`build_context`)."""
    flow_cfg, reg_cfg = tables.flow_cfg, tables.regime_cfg
    ne = len(events)
    ev_ts = to_ns(events["last_ts"]) if ne else np.zeros(0, np.int64)
    ev_date = to_ns(events["trade_date"]) if ne else np.zeros(0, np.int64)
    ev_tk, ev_tk_u = factorize(events["ticker"]) if ne else (np.zeros(0, np.int64), [])
    ev_tk_u = np.asarray(ev_tk_u, dtype=object).astype(str)

    def map_codes(universe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Event ticker -> index in ``universe`` (sorted str array), -1 when absent."""
        pos = np.searchsorted(universe, ev_tk_u) if len(universe) else np.zeros(0, np.int64)
        okp = (
            (pos < len(universe)) & (universe[np.minimum(pos, len(universe) - 1)] == ev_tk_u)
            if len(universe)
            else np.zeros(len(ev_tk_u), bool)
        )
        per_u = np.where(okp, pos, -1)
        codes = np.where(ev_tk >= 0, per_u[np.maximum(ev_tk, 0)] if len(per_u) else -1, -1)
        return codes.astype(np.int64), codes >= 0

    bf = tables.bars
    spot = np.full(ne, np.nan)
    bar_ts = np.full(ne, np.iinfo(np.int64).min)
    vwap = np.full(ne, np.nan)
    svol = np.full(ne, np.nan)
    rvol = np.full(ne, np.nan)
    rvs = np.zeros(ne, np.int64)
    ret15 = np.full(ne, np.nan)
    or_h = np.full(ne, np.nan)
    or_l = np.full(ne, np.nan)
    or_ready = np.zeros(ne, bool)
    if len(bf) and ne:
        etk, has_tk = map_codes(bf.attrs["tickers"])
        bkey = tables.bar_keys
        # last bar with start <= t - 1 minute (i.e. closed at or before t)
        ekey = etk * 10_000_000_000 + np.floor_divide(ev_ts - NS_MIN, 1_000_000_000)
        j = np.searchsorted(bkey, ekey, side="right") - 1
        jj = np.maximum(j, 0)
        ok = (
            has_tk
            & (j >= 0)
            & (bf["ticker_code"].to_numpy()[jj] == etk)
            & (bf["date_ns"].to_numpy()[jj] == ev_date)
        )

        def take(c: str, fill: Any) -> np.ndarray:
            v = bf[c].to_numpy()[jj]
            return np.where(ok, v, fill)

        spot = take("close", np.nan).astype(np.float64)
        bar_ts = np.where(ok, bf["ts_ns"].to_numpy()[jj], np.iinfo(np.int64).min)
        vwap = take("vwap", np.nan).astype(np.float64)
        svol = take("session_volume", np.nan).astype(np.float64)
        rvol = take("rvol", np.nan).astype(np.float64)
        rvs = take("rvol_sessions", 0).astype(np.int64)
        ret15 = take("ret_15m", np.nan).astype(np.float64)
        or_h = take("or_high", np.nan).astype(np.float64)
        or_l = take("or_low", np.nan).astype(np.float64)
        or_ready = take("or_ready", False).astype(bool)
    spot_src = np.where(np.isfinite(spot), 0, 2)

    # previous session's daily row per event
    df_ = tables.daily
    prev_h = np.full(ne, np.nan)
    prev_l = np.full(ne, np.nan)
    prev_c = np.full(ne, np.nan)
    dret = np.full(ne, np.nan)
    if len(df_) and ne:
        etk, has_tk = map_codes(tables.daily_tickers)
        dkey = tables.daily_keys
        dtk = dkey // 100_000
        ekey = etk * 100_000 + ev_date // NS_DAY - 1  # strictly before the event's session
        j = np.searchsorted(dkey, ekey, side="right") - 1
        jj = np.maximum(j, 0)
        ok = has_tk & (j >= 0) & (dtk[jj] == etk)
        prev_h = np.where(ok, df_["high"].to_numpy(np.float64)[jj], np.nan)
        prev_l = np.where(ok, df_["low"].to_numpy(np.float64)[jj], np.nan)
        prev_c = np.where(ok, df_["close"].to_numpy(np.float64)[jj], np.nan)
        dret = np.where(ok, df_["daily_ret"].to_numpy(np.float64)[jj], np.nan)
    use_prev = ~np.isfinite(spot) & np.isfinite(prev_c)
    spot = np.where(use_prev, prev_c, spot)
    spot_src[use_prev] = 1

    rg = tables.regime
    regime = np.full(ne, REGIMES.index("UNKNOWN"), np.int64)
    r_ret = np.full(ne, np.nan)
    r_vol = np.full(ne, np.nan)
    if len(rg) and ne:
        rdays = rg["date_ns"].to_numpy(np.int64) // NS_DAY
        j = np.searchsorted(rdays, ev_date // NS_DAY - 1, side="right") - 1
        ok = j >= 0
        jj = np.maximum(j, 0)
        rcode = tables.regime_codes
        regime = np.where(ok, rcode[jj], REGIMES.index("UNKNOWN"))
        r_ret = np.where(ok, rg["regime_ret"].to_numpy(np.float64)[jj], np.nan)
        r_vol = np.where(ok, rg["regime_vol"].to_numpy(np.float64)[jj], np.nan)

    thr = float(flow_cfg["trend_15m_threshold"])
    with np.errstate(invalid="ignore", divide="ignore"):
        vdist = spot / vwap - 1.0
    or_break = np.where(~or_ready, 3, np.where(spot > or_h, 0, np.where(spot < or_l, 1, 2)))
    gex = gex_context(events["ticker"] if ne else pd.Series([], dtype=object), ev_date, spot, tables.gamma)
    ctx = pd.DataFrame(
        {
            "trade_date": events["trade_date"].array if ne else [],
            "event_id": events["event_id"].array if ne else [],
            "ticker": events["ticker"].array if ne else [],
            "ts": ev_ts.astype("datetime64[ns]"),
            "bar_ts": np.where(
                bar_ts == np.iinfo(np.int64).min,
                np.datetime64("NaT"),
                bar_ts.astype("datetime64[ns]"),
            ),
            "spot": spot,
            "spot_source": categorical(spot_src, ("bar", "prev_close", "none")),
            "vwap": vwap,
            "vwap_dist": vdist,
            "session_volume": svol,
            "rvol": rvol,
            "rvol_ok": np.isfinite(rvol),
            "rvol_sessions": rvs,
            "ret_15m": ret15,
            "trend_15m": _trend_label(ret15, thr, -thr, unknown="FLAT"),
            "daily_ret": dret,
            "daily_trend": _trend_label(
                dret, float(reg_cfg["bull_return"]), float(reg_cfg["bear_return"]), "UNKNOWN"
            ),
            "prev_high": prev_h,
            "prev_low": prev_l,
            "prev_close": prev_c,
            "above_pdh": np.isfinite(prev_h) & (spot > prev_h),
            "below_pdl": np.isfinite(prev_l) & (spot < prev_l),
            "or_high": or_h,
            "or_low": or_l,
            "or_break": categorical(or_break, ("UP", "DOWN", "INSIDE", "PENDING")),
            "regime": categorical(regime, REGIMES),
            "regime_ret": r_ret,
            "regime_vol": r_vol,
            **gex,
            **l2_context(events["ticker"] if ne else pd.Series([], dtype=object), ev_ts, ev_date, tables.l2,
                         tables.l2_max_age_minutes),
        },
        copy=False,
    )
    return ctx[CONTEXT_COLUMNS]
