"""Paper trading: one position per signal, followed bar by bar until TP, SL or timeout.

Rules (thresholds from config ``paper.<kind>``, per-ticker overrides via
``tickers.overrides.<TICKER>.paper``):

* **Instrument.** The position trades the **underlying** in the signal's direction: long for
  BULLISH, short for BEARISH. ``return_pct`` is the underlying move in that direction.
* **Entry** at the **open of the first 1-minute bar that starts strictly after the signal's
  time** (``ts``). Until that bar exists the position is ``PENDING``. SCALP and DAY_TRADE enter
  only in the signal's session: a signal with no later bar that session (e.g. at 15:59:30) is
  closed as ``TIMEOUT`` without an entry (``entry_price`` null) at 16:00.
* **Levels.** ``tp_price = entry x (1 + take_profit_pct)`` and ``sl_price = entry x (1 -
  stop_loss_pct)`` for longs (mirrored for shorts), fixed at entry.
* **Exits**, checked on every bar from the entry bar on (the entry bar's high/low count, since
  they happen after its open):

  - a bar that **opens** beyond a level (a gap) exits at that open;
  - else a bar whose range reaches the stop exits at ``sl_price`` (SL); a bar whose range reaches
    the target exits at ``tp_price`` (TP); **when one bar reaches both, SL wins** (with 1-minute
    bars the order inside the bar is unknown; assuming the worse outcome keeps results honest);
  - **TIMEOUT** at the close of the last bar before the deadline: SCALP and DAY_TRADE at
    ``entry + timeout_minutes`` and never overnight (a bar of a later session, or ``asof`` past
    16:00 of the entry session, ends them); SWING after ``timeout_days`` sessions following the
    entry session (closed at the close of the last of them, once a bar of a later session is
    seen or ``asof`` is past 16:00 of that session).
* **Carry-over.** Positions still open at the end of the bars passed stay ``OPEN`` with
  ``mark_price`` = the last close and ``last_bar_ts``; the next call to :func:`update_positions`
  continues from the first bar after ``last_bar_ts``, so updating day by day gives the same
  result as one pass over all the bars.
* **Option leg (estimate).** The signal's contract valued by Black-Scholes
  (:func:`primeflow_lib.pricing.bs_price`) at entry and at exit / mark, with the underlying price
  at those times, ACT/365 time to expiry (expiry at 16:00), ``paper.risk_free_rate`` and a
  constant IV: the event's IV from the chain snapshot, else the IV implied by the order's average
  fill price at the signal's spot (``iv_source`` = ``chain`` / ``implied`` / ``none``). The leg is
  long when the flow bought (ask side) and short when it sold (bid side); ``option_pnl`` is USD
  per contract (x100), signed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numba
import numpy as np
import pandas as pd

from primeflow_lib.config import get_ticker_config
from primeflow_lib.pricing import bs_price as _bs_price
from primeflow_lib.pricing import implied_vol as _implied_vol
from primeflow_lib.schema.live import PAPER_POSITIONS

NS_MIN = 60_000_000_000
NS_DAY = 86_400_000_000_000
CLOSE_NS = 16 * 60 * NS_MIN
NAT = np.iinfo(np.int64).min
KIND_SECTION = {"SCALP": "scalp", "DAY_TRADE": "day_trade", "SWING": "swing"}
BUY_SIDES = ("above_ask", "ask", "to_ask")

#: the columns of a position row, as declared for ``live.paper_positions``
POSITION_COLUMNS = PAPER_POSITIONS.column_names


def _ns(s: pd.Series) -> np.ndarray:
    v = pd.to_datetime(s, errors="coerce")
    return v.astype("datetime64[ns]").to_numpy().view(np.int64)


def _ts(a: np.ndarray) -> np.ndarray:
    return np.where(a == NAT, np.datetime64("NaT"), a.astype("datetime64[ns]")).astype(
        "datetime64[ns]"
    )


def open_positions(
    signals: pd.DataFrame, cfg: dict[str, Any], *, now: dt.datetime | None = None
) -> pd.DataFrame:
    """One ``PENDING`` position per signal (``position_id`` = ``signal_id``), with the kind's
    TP / SL / timeout from config (per-ticker overrides applied)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = len(signals)
    if n == 0:
        return empty_positions()
    s = signals.reset_index(drop=True)
    tp = np.full(n, np.nan)
    sl = np.full(n, np.nan)
    tmin = np.full(n, -1, np.int64)
    tday = np.full(n, -1, np.int64)
    kinds = s["kind"].astype(str).to_numpy(dtype=object)
    tickers = s["ticker"].astype(str).to_numpy(dtype=object)
    for tk in np.unique(tickers):
        pc = get_ticker_config(cfg, str(tk), "paper")
        for kind, section in KIND_SECTION.items():
            m = (tickers == tk) & (kinds == kind)
            if not m.any():
                continue
            p = pc[section]
            tp[m] = float(p["take_profit_pct"])
            sl[m] = float(p["stop_loss_pct"])
            if "timeout_minutes" in p:
                tmin[m] = int(p["timeout_minutes"])
            if "timeout_days" in p:
                tday[m] = int(p["timeout_days"])
    direction = s["direction"].astype(str).to_numpy(dtype=object)
    side = s["side"].astype(str).to_numpy(dtype=object) if "side" in s else np.full(n, "ask")
    iv = pd.to_numeric(s.get("iv", pd.Series(np.nan, index=s.index)), errors="coerce").to_numpy(
        np.float64
    )
    out = pd.DataFrame(
        {
            "position_id": s["signal_id"].astype(str).to_numpy(dtype=object),
            "signal_id": s["signal_id"].astype(str).to_numpy(dtype=object),
            "trade_date": pd.to_datetime(s["trade_date"]).to_numpy("datetime64[s]"),
            "kind": kinds,
            "ticker": tickers,
            "option_symbol": s["option_symbol"].astype(str).to_numpy(dtype=object),
            "direction": direction,
            "position": np.where(direction == "BEARISH", "SHORT", "LONG"),
            "option_side": np.where(np.isin(side, BUY_SIDES), "LONG", "SHORT"),
            "signal_ts": pd.to_datetime(s["ts"]).to_numpy("datetime64[ns]"),
            "strength": pd.to_numeric(s["strength"]).to_numpy(np.float64),
            "take_profit_pct": tp,
            "stop_loss_pct": sl,
            "timeout_minutes": pd.array(np.where(tmin >= 0, tmin, np.nan), dtype="Int64"),
            "timeout_days": pd.array(np.where(tday >= 0, tday, np.nan), dtype="Int64"),
            "status": "PENDING",
            "entry_ts": np.full(n, np.datetime64("NaT"), "datetime64[ns]"),
            "entry_price": np.nan,
            "tp_price": np.nan,
            "sl_price": np.nan,
            "deadline_ts": np.full(n, np.datetime64("NaT"), "datetime64[ns]"),
            "sessions_held": 0,
            "exit_reason": pd.Series([None] * n, dtype=object),
            "exit_ts": np.full(n, np.datetime64("NaT"), "datetime64[ns]"),
            "exit_price": np.nan,
            "last_bar_ts": np.full(n, np.datetime64("NaT"), "datetime64[ns]"),
            "mark_price": np.nan,
            "return_pct": np.nan,
            "strike": pd.to_numeric(s["strike"]).to_numpy(np.float64),
            "expiry": pd.to_datetime(s["expiry"]).to_numpy("datetime64[s]"),
            "right": s["right"].astype(str).to_numpy(dtype=object),
            "iv": iv,
            "iv_source": np.where(np.isfinite(iv) & (iv > 0), "chain", "none").astype(object),
            "option_entry": np.nan,
            "option_mark": np.nan,
            "option_pnl": np.nan,
            "option_return_pct": np.nan,
            "updated_at": np.datetime64(now, "ns"),
            "vendor": s["vendor"].astype(str).to_numpy(dtype=object)
            if "vendor" in s
            else "unknown",
        }
    )
    # IV implied by the order's fill when the chain had none
    need = ~(np.isfinite(iv) & (iv > 0))
    if need.any() and {"avg_price", "spot"} <= set(s.columns):
        years = _years(
            out["expiry"].to_numpy("datetime64[ns]").view(np.int64),
            out["signal_ts"].to_numpy().view(np.int64),
        )
        imp = _implied_vol(
            pd.to_numeric(s["avg_price"]).to_numpy(np.float64)[need],
            pd.to_numeric(s["spot"]).to_numpy(np.float64)[need],
            out["strike"].to_numpy()[need],
            years[need],
            float(cfg["paper"]["risk_free_rate"]),
            0.0,
            out["right"].to_numpy(dtype=object)[need] == "C",
        )
        iv2 = iv.copy()
        iv2[need] = imp
        out["iv"] = iv2
        src = out["iv_source"].to_numpy(dtype=object).copy()
        src[need & np.isfinite(iv2)] = "implied"
        out["iv_source"] = src
    return out[POSITION_COLUMNS]


def _years(expiry_ns: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
    """ACT/365 years from t to expiry day 16:00 (expiry given as a date at midnight)."""
    return (expiry_ns + CLOSE_NS - t_ns) / (365.0 * NS_DAY)


@numba.njit(cache=True)
def _walk(
    start,
    tk_end,
    sign,
    status,
    entry_px,
    tp_px,
    sl_px,
    tp_pct,
    sl_pct,
    tmin,
    tday,
    deadline,
    entry_day,
    sessions,
    last_bar,
    mark,
    b_ts,
    b_day,
    b_open,
    b_high,
    b_low,
    b_close,
    asof,
    sig_ts,
):  # pragma: no cover - compiled
    n = start.shape[0]
    exit_reason = np.zeros(n, np.int8)  # 0 none, 1 TP, 2 SL, 3 TIMEOUT
    exit_px = np.full(n, np.nan)
    exit_ts = np.full(n, np.iinfo(np.int64).min)
    entry_ts = np.full(n, np.iinfo(np.int64).min)
    for i in range(n):
        if status[i] == 2:
            continue
        j = start[i]
        end = tk_end[i]
        last_close = mark[i]
        last_ts = last_bar[i]
        last_day = -1 if last_ts == np.iinfo(np.int64).min else b_day_of(last_ts)
        sig_day = sig_ts[i] // 86_400_000_000_000
        while j < end:
            if status[i] == 0 and tmin[i] >= 0 and b_day[j] != sig_day:
                # intraday kinds never enter in a later session: expired without entry
                exit_reason[i] = 3
                exit_ts[i] = sig_day * 86_400_000_000_000 + 16 * 3_600_000_000_000
                status[i] = 2
                break
            if status[i] == 0:  # enter at this bar's open
                e = b_open[j]
                entry_px[i] = e
                entry_ts[i] = b_ts[j]
                entry_day[i] = b_day[j]
                last_day = b_day[j]
                tp_px[i] = e * (1.0 + sign[i] * tp_pct[i])
                sl_px[i] = e * (1.0 - sign[i] * sl_pct[i])
                if tmin[i] >= 0:
                    deadline[i] = b_ts[j] + tmin[i] * 60_000_000_000
                status[i] = 1
                first = True
            else:
                first = False
                # timeouts before using this bar
                if tmin[i] >= 0 and (b_ts[j] >= deadline[i] or b_day[j] != entry_day[i]):
                    exit_reason[i] = 3
                    exit_px[i] = last_close
                    exit_ts[i] = last_ts + 60_000_000_000
                    status[i] = 2
                    break
                if b_day[j] != last_day:
                    if tday[i] >= 0 and sessions[i] >= tday[i]:
                        exit_reason[i] = 3
                        exit_px[i] = last_close
                        exit_ts[i] = last_ts + 60_000_000_000
                        status[i] = 2
                        break
                    sessions[i] += 1
                    last_day = b_day[j]
            o, h, lo = b_open[j], b_high[j], b_low[j]
            up = sign[i] > 0
            if not first:
                gap_sl = o <= sl_px[i] if up else o >= sl_px[i]
                gap_tp = o >= tp_px[i] if up else o <= tp_px[i]
                if gap_sl or gap_tp:
                    exit_reason[i] = 2 if gap_sl else 1
                    exit_px[i] = o
                    exit_ts[i] = b_ts[j]
                    status[i] = 2
                    last_close = b_close[j]
                    last_ts = b_ts[j]
                    break
            hit_sl = lo <= sl_px[i] if up else h >= sl_px[i]
            hit_tp = h >= tp_px[i] if up else lo <= tp_px[i]
            last_close = b_close[j]
            last_ts = b_ts[j]
            if hit_sl or hit_tp:
                exit_reason[i] = 2 if hit_sl else 1
                exit_px[i] = sl_px[i] if hit_sl else tp_px[i]
                exit_ts[i] = b_ts[j] + 60_000_000_000
                status[i] = 2
                break
            j += 1
        if status[i] == 0 and tmin[i] >= 0:
            sig_end = sig_day * 86_400_000_000_000 + 16 * 3_600_000_000_000
            if asof >= sig_end:  # the signal's session ended without a bar to enter on
                exit_reason[i] = 3
                exit_ts[i] = sig_end
                status[i] = 2
        if status[i] == 1:
            # no later bar yet: time out when the clock says the holding period is over
            day_end = (last_ts // 86_400_000_000_000) * 86_400_000_000_000 + 16 * 3_600_000_000_000
            if tmin[i] >= 0 and (asof >= deadline[i] or asof >= day_end):
                exit_reason[i] = 3
                exit_px[i] = last_close
                exit_ts[i] = min(last_ts + 60_000_000_000, deadline[i])
                status[i] = 2
            elif tday[i] >= 0 and sessions[i] >= tday[i] and asof >= day_end:
                exit_reason[i] = 3
                exit_px[i] = last_close
                exit_ts[i] = last_ts + 60_000_000_000
                status[i] = 2
        mark[i] = last_close
        last_bar[i] = last_ts
    return exit_reason, exit_px, exit_ts, entry_ts


@numba.njit(cache=True, inline="always")
def b_day_of(ts):  # pragma: no cover - compiled
    return ts // 86_400_000_000_000


def update_positions(
    open_positions: pd.DataFrame,
    bars_1m: pd.DataFrame,
    daily: pd.DataFrame | None,
    cfg: dict[str, Any],
    asof: dt.datetime,
    *,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Advance ``PENDING`` / ``OPEN`` positions through the bars after their last update.

    Args:
        open_positions: ``live.paper_positions`` rows (from :func:`open_positions` or an earlier
            update); ``CLOSED`` rows are returned unchanged.
        bars_1m: ``market.ohlcv_intraday`` rows of the positions' tickers covering the time since
            their last update (bars that start after ``asof`` are ignored).
        daily: ``market.ohlcv_daily`` rows (accepted for symmetry with the scoring inputs; the
            walk itself only needs 1-minute bars). May be None.
        cfg: config (``paper`` section).
        asof: the time the update is made (America/New_York wall time, naive): it decides
            timeouts when no later bar exists yet.
        now: ``updated_at`` for the rows (UTC naive); default now.

    Returns:
        The positions (same rows, same order) with status, entry, exit, mark and option leg
        filled in as far as the bars allow.
    """
    del daily
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if open_positions is None or len(open_positions) == 0:
        return empty_positions()
    p = open_positions.reset_index(drop=True).copy()
    asof_ns = np.datetime64(pd.Timestamp(asof).to_datetime64(), "ns").astype(np.int64)
    st_map = {"PENDING": 0, "OPEN": 1, "CLOSED": 2}
    status = p["status"].map(st_map).fillna(0).to_numpy(np.int64).astype(np.int8)
    sign = np.where(p["direction"].astype(str).to_numpy(dtype=object) == "BEARISH", -1.0, 1.0)

    b = (
        bars_1m[["ticker", "ts", "open", "high", "low", "close"]].copy()
        if bars_1m is not None
        else pd.DataFrame(columns=["ticker", "ts", "open", "high", "low", "close"])
    )
    b["ts_ns"] = _ns(b["ts"]) if len(b) else np.zeros(0, np.int64)
    b = b[b["ts_ns"] <= asof_ns - NS_MIN] if len(b) else b  # only bars closed by asof
    tick_u = np.unique(
        np.concatenate(
            [
                b["ticker"].astype(str).to_numpy(dtype=object).astype(str),
                p["ticker"].astype(str).to_numpy(dtype=object).astype(str),
            ]
        )
    )
    b_tk = np.searchsorted(tick_u, b["ticker"].astype(str).to_numpy(dtype=object).astype(str))
    order = np.lexsort((b["ts_ns"].to_numpy(np.int64), b_tk))
    b_tk = b_tk[order]
    b_ts = b["ts_ns"].to_numpy(np.int64)[order]
    b_open = b["open"].to_numpy(np.float64)[order]
    b_high = b["high"].to_numpy(np.float64)[order]
    b_low = b["low"].to_numpy(np.float64)[order]
    b_close = b["close"].to_numpy(np.float64)[order]
    b_day = b_ts // NS_DAY

    p_tk = np.searchsorted(tick_u, p["ticker"].astype(str).to_numpy(dtype=object).astype(str))
    sig_ns = _ns(p["signal_ts"])
    last_bar = _ns(p["last_bar_ts"])
    after = np.where(last_bar == NAT, sig_ns, np.maximum(sig_ns, last_bar))
    key = b_tk.astype(np.int64) * 10_000_000_000 + b_ts // 1_000_000_000
    pkey = p_tk.astype(np.int64) * 10_000_000_000 + after // 1_000_000_000
    start = np.searchsorted(key, pkey, side="right")
    tk_end = np.searchsorted(b_tk, p_tk, side="right")

    entry_px = p["entry_price"].to_numpy(np.float64).copy()
    tp_px = p["tp_price"].to_numpy(np.float64).copy()
    sl_px = p["sl_price"].to_numpy(np.float64).copy()
    deadline = _ns(p["deadline_ts"]).copy()
    entry_ns = _ns(p["entry_ts"])
    entry_day = np.where(entry_ns == NAT, -1, entry_ns // NS_DAY)
    sessions = p["sessions_held"].fillna(0).to_numpy(np.int64).copy()
    mark = p["mark_price"].to_numpy(np.float64).copy()
    tmin = p["timeout_minutes"].astype("Float64").fillna(-1).to_numpy(np.float64).astype(np.int64)
    tday = p["timeout_days"].astype("Float64").fillna(-1).to_numpy(np.float64).astype(np.int64)
    was = status.copy()
    lb = last_bar.copy()
    reason, xpx, xts, ets = _walk(
        start,
        tk_end,
        sign,
        status,
        entry_px,
        tp_px,
        sl_px,
        p["take_profit_pct"].to_numpy(np.float64),
        p["stop_loss_pct"].to_numpy(np.float64),
        tmin,
        tday,
        deadline,
        entry_day,
        sessions,
        lb,
        mark,
        b_ts,
        b_day,
        b_open,
        b_high,
        b_low,
        b_close,
        asof_ns,
        sig_ns,
    )
    newly = was != 2
    ent = np.where(ets != NAT, ets, entry_ns)
    p["entry_ts"] = _ts(ent)
    p["entry_price"] = entry_px
    p["tp_price"] = tp_px
    p["sl_price"] = sl_px
    p["deadline_ts"] = _ts(np.where(deadline == NAT, NAT, deadline))
    p["sessions_held"] = sessions
    p["status"] = np.array(["PENDING", "OPEN", "CLOSED"], dtype=object)[status]
    rs = np.array([None, "TP", "SL", "TIMEOUT"], dtype=object)[reason]
    p["exit_reason"] = np.where(newly & (reason > 0), rs, p["exit_reason"].to_numpy(dtype=object))
    old_xts = _ns(p["exit_ts"])
    p["exit_ts"] = _ts(np.where(newly & (reason > 0), xts, old_xts))
    p["exit_price"] = np.where(newly & (reason > 0), xpx, p["exit_price"].to_numpy(np.float64))
    p["last_bar_ts"] = _ts(lb)
    p["mark_price"] = np.where(status == 2, p["exit_price"].to_numpy(np.float64), mark)
    ep = p["entry_price"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p["return_pct"] = np.where(
            np.isfinite(ep), (p["mark_price"].to_numpy() / ep - 1.0) * sign, np.nan
        )
    _option_leg(p, cfg)
    p["updated_at"] = np.datetime64(now, "ns")
    return p[POSITION_COLUMNS]


def _option_leg(p: pd.DataFrame, cfg: dict[str, Any]) -> None:
    """Black-Scholes estimate of the signal's option at entry and at exit / mark."""
    iv = p["iv"].to_numpy(np.float64)
    ep = p["entry_price"].to_numpy(np.float64)
    mp = p["mark_price"].to_numpy(np.float64)
    ok = np.isfinite(iv) & (iv > 0) & np.isfinite(ep)
    if not ok.any():
        return
    exp_ns = p["expiry"].to_numpy("datetime64[ns]").view(np.int64)
    ent_ns = _ns(p["entry_ts"])
    mark_ns = np.where(
        p["status"].to_numpy(dtype=object) == "CLOSED",
        _ns(p["exit_ts"]),
        _ns(p["last_bar_ts"]) + NS_MIN,
    )
    mark_ns = np.where(mark_ns < 0, ent_ns, mark_ns)
    r = float(cfg["paper"]["risk_free_rate"])
    call = p["right"].to_numpy(dtype=object) == "C"
    k = p["strike"].to_numpy(np.float64)
    o_e = _value(ep, k, _years(exp_ns, ent_ns), iv, r, call, ok)
    o_m = _value(mp, k, _years(exp_ns, mark_ns), iv, r, call, ok & np.isfinite(mp))
    side = np.where(p["option_side"].to_numpy(dtype=object) == "SHORT", -1.0, 1.0)
    p["option_entry"] = o_e
    p["option_mark"] = o_m
    p["option_pnl"] = (o_m - o_e) * 100.0 * side
    with np.errstate(invalid="ignore", divide="ignore"):
        p["option_return_pct"] = np.where(o_e > 0, (o_m / o_e - 1.0) * side, np.nan)


def _value(s, k, t, v, r, call, ok) -> np.ndarray:
    """Option value per share: Black-Scholes where ``t > 0``, intrinsic at or after expiry, NaN
    where ``ok`` is False (the pricer only ever sees regular inputs)."""
    out = np.full(len(s), np.nan)
    live = ok & (t > 0)
    if live.any():
        out[live] = _bs_price(s[live], k[live], t[live], v[live], r, 0.0, call[live])
    dead = ok & ~(t > 0)
    out[dead] = np.where(
        call[dead], np.maximum(s[dead] - k[dead], 0.0), np.maximum(k[dead] - s[dead], 0.0)
    )
    return out


def paper_trade(
    signals: pd.DataFrame,
    bars_1m: pd.DataFrame,
    daily: pd.DataFrame | None,
    cfg: dict[str, Any],
    asof: dt.datetime,
    *,
    carried: pd.DataFrame | None = None,
    now: dt.datetime | None = None,
) -> pd.DataFrame:
    """Open a position for every new signal and update them together with the carried-over
    ``PENDING`` / ``OPEN`` positions. Signals that already have a position in ``carried`` are not
    opened twice. Returns every touched position (the rows to upsert by ``position_id``)."""
    new = open_positions(signals, cfg, now=now)
    if carried is not None and len(carried):
        live = carried[carried["status"].astype(str) != "CLOSED"]
        new = new[~new["position_id"].isin(set(carried["position_id"].astype(str)))]
        allp = (
            pd.concat([live[POSITION_COLUMNS], new], ignore_index=True)
            if len(new)
            else live[POSITION_COLUMNS].reset_index(drop=True)
        )
    else:
        allp = new
    return update_positions(allp, bars_1m, daily, cfg, asof, now=now)


def empty_positions() -> pd.DataFrame:
    """A positions frame with no rows."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in POSITION_COLUMNS})


def outcome_counts(positions: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{kind: {"TP": n, "SL": n, "TIMEOUT": n, "OPEN": n, "PENDING": n}}`` for metadata."""
    out: dict[str, dict[str, int]] = {}
    if not len(positions):
        return out
    lab = np.where(
        positions["status"].astype(str) == "CLOSED",
        positions["exit_reason"].astype(str),
        positions["status"].astype(str),
    )
    for (k, lbl), v in (
        pd.Series(
            1, index=pd.MultiIndex.from_arrays([positions["kind"].astype(str).to_numpy(), lab])
        )
        .groupby(level=[0, 1])
        .sum()
        .items()
    ):
        out.setdefault(str(k), {})[str(lbl)] = int(v)
    return out
