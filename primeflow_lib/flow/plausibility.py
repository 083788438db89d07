"""Plausibility rules for option prints (part of :func:`primeflow_lib.flow.validate.validate_prints`).

A print can be well-formed (finite, positive, parseable) and still impossible. Each rule below
has a threshold in the ``plausibility`` block of the config, and a print breaking it is
quarantined with the reason shown (``flow.quarantine.reason``), so it is never scored, alerted or
paper-traded:

=================  ==========================================================================
field              rule (threshold keys of ``plausibility``)
=================  ==========================================================================
price              a call above spot x (1 + ``price_margin_frac``) + ``price_margin_usd``; spot is
                   the highest 1-minute bar high of the underlying that session (when bars are
                   given; a call with no bar is not checked and counted ``calls_without_spot``)
price              a put above strike x (1 + ``price_margin_frac``) + ``price_margin_usd``
price              with a usable quote (0 < bid <= ask): below bid x (1 - ``nbbo_band_frac``) -
                   ``nbbo_band_usd`` or above ask x (1 + ``nbbo_band_frac``) + ``nbbo_band_usd``
size               above ``max_size`` contracts
premium            price x size x 100 above ``max_premium`` USD
underlying         the row's underlying is not the option symbol's underlying after the root
                   mapping of :mod:`primeflow_lib.symbols` (``SPXW`` -> ``SPX``, ``AMC1`` ->
                   ``AMC``; the root itself is accepted too; ``BRK-B`` = ``BRK.B``)
                   (``check_underlying``)
trade_date         not a trading session, or not the America/New_York date of ``sip_timestamp``
                   (``check_session_of_timestamp``)
=================  ==========================================================================
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.arrays import parse_days

R_CALL = "call price above spot + margin (plausibility.price_margin_*)"
R_PUT = "put price above strike + margin (plausibility.price_margin_*)"
R_NBBO = "price outside the band around the NBBO (plausibility.nbbo_band_*)"
R_SIZE = "size above plausibility.max_size"
R_PREMIUM = "premium above plausibility.max_premium"
R_UNDERLYING = "underlying differs from the option symbol's root (after root mapping)"
R_NOT_SESSION = "trade_date is not a trading session"
R_WRONG_SESSION = "trade_date is not the session of sip_timestamp (America/New_York)"

#: every reason this module can give (for docs and the reliability figures)
REASONS = (R_CALL, R_PUT, R_NBBO, R_SIZE, R_PREMIUM, R_UNDERLYING, R_NOT_SESSION, R_WRONG_SESSION)

Problem = tuple[np.ndarray, str, str]  # (bad mask, field, reason)


_TICKER_SEPARATORS = str.maketrans({"-": ".", "/": "."})


def _norm_ticker(values: np.ndarray) -> np.ndarray:
    """Upper case, trimmed, ``-`` and ``/`` as ``.`` (``BRK-B`` == ``BRK.B``); missing -> ''."""
    codes, uniq = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    # each distinct value once, in plain Python: a batch has a handful of tickers, and pandas'
    # string methods cost a millisecond each whatever the length (the stream validates per step)
    normed = np.array([str(u).strip().upper().translate(_TICKER_SEPARATORS) for u in uniq] + [""], dtype=object)
    return normed[np.where(codes < 0, len(normed) - 1, codes)]


def plausibility_problems(
    df: pd.DataFrame,
    contracts: pd.DataFrame,
    sym_codes: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    sip: np.ndarray,
    sip_ok: np.ndarray,
    rules: dict[str, Any],
    bars_1m: pd.DataFrame | None = None,
) -> tuple[list[Problem], dict[str, int]]:
    """The plausibility problems of a batch (see the module table) and counts of rows a rule
    could not check (``calls_without_spot``).

    Args:
        df: the batch (0-based positional index).
        contracts, sym_codes: :func:`~primeflow_lib.symbols.factorize_occ` of the symbols.
        price, size: float64 per row (NaN where missing; those rows fail the basic rules).
        sip, sip_ok: ``sip_timestamp`` as int64 ns and where it is valid.
        rules: the ``plausibility`` config block.
        bars_1m: ``market.ohlcv_intraday`` rows (``ticker, trade_date, high``) for the spot bound.
    """
    n = len(df)
    out: list[Problem] = []
    unchecked: dict[str, int] = {}
    ok_px = np.isfinite(price) & (price > 0)
    frac, usd = float(rules["price_margin_frac"]), float(rules["price_margin_usd"])
    # per-contract values first, then indexed by row (no per-row string work)
    c_right = contracts["right"].to_numpy(dtype=object)
    strike = contracts["strike"].to_numpy(np.float64)[sym_codes]
    c_und = _norm_ticker(contracts["underlying"].to_numpy(dtype=object))
    days = parse_days(df["trade_date"]) if "trade_date" in df else np.full(n, np.datetime64("NaT", "D"))

    is_put = (c_right == "P")[sym_codes]
    with np.errstate(invalid="ignore"):
        out.append((ok_px & is_put & (price > strike * (1 + frac) + usd), "price", R_PUT))

    is_call = (c_right == "C")[sym_codes]
    spot_hi = np.full(n, np.nan)
    day_codes, day_vals = pd.factorize(days, use_na_sentinel=True)
    if bars_1m is not None and len(bars_1m) and is_call.any():
        hi, keys = _session_high_index(bars_1m)
        # look up each distinct (contract, day) pair once, then index by row
        nd = len(day_vals) + 1
        pair_codes, pairs = pd.factorize(sym_codes.astype(np.int64) * nd + (day_codes + 1))
        p_con, p_day = pairs // nd, pairs % nd - 1
        day_arr = np.append(np.asarray(day_vals, dtype="datetime64[D]"), np.datetime64("NaT", "D"))
        pos = keys.get_indexer(pd.MultiIndex.from_arrays([pd.Index(c_und[p_con]), pd.Index(day_arr[p_day])]))
        hi_pair = np.where(pos >= 0, hi.to_numpy(np.float64)[np.maximum(pos, 0)], np.nan)
        spot_hi = hi_pair[pair_codes]
    with np.errstate(invalid="ignore"):
        out.append((ok_px & is_call & (price > spot_hi * (1 + frac) + usd), "price", R_CALL))
    unchecked["calls_without_spot"] = int((ok_px & is_call & ~np.isfinite(spot_hi)).sum())

    bid = _float(df.get("bid"), n)
    ask = _float(df.get("ask"), n)
    band, band_usd = float(rules["nbbo_band_frac"]), float(rules["nbbo_band_usd"])
    with np.errstate(invalid="ignore"):
        quoted = (bid > 0) & (ask >= bid)
        outside = (price < bid * (1 - band) - band_usd) | (price > ask * (1 + band) + band_usd)
    out.append((ok_px & quoted & outside, "price", R_NBBO))

    with np.errstate(invalid="ignore"):
        out.append((np.isfinite(size) & (size > float(rules["max_size"])), "size", R_SIZE))
        prem = price * size * 100.0
        out.append((np.isfinite(prem) & (prem > float(rules["max_premium"])), "price", R_PREMIUM))

    if rules["check_underlying"] and "underlying" in df:
        from primeflow_lib.arrays import factorize

        # compare each distinct (row underlying, contract) pair once
        codes, uniques = factorize(df["underlying"])
        normed = np.append(_norm_ticker(np.asarray(uniques, dtype=object)), "")
        codes = np.where(codes < 0, len(normed) - 1, codes).astype(np.int64)
        inv, pair = pd.factorize(codes * (len(contracts) + 1) + sym_codes)  # hashing: no sort
        u_row = normed[pair // (len(contracts) + 1)]
        c = pair % (len(contracts) + 1)
        u_sym = _norm_ticker(contracts["underlying"].to_numpy(dtype=object))[c]
        u_root = _norm_ticker(contracts["root"].to_numpy(dtype=object))[c]
        bad_u = (u_sym != "") & (u_row != "") & (u_row != u_sym) & (u_row != u_root)
        out.append((bad_u[inv.reshape(-1)], "underlying", R_UNDERLYING))

    if rules["check_session_of_timestamp"] and "trade_date" in df:
        known = ~np.isnat(days)
        # the distinct days (a batch holds a few): factorized once above
        uniq = np.asarray(day_vals, dtype="datetime64[D]")
        inv = day_codes[known]
        facts = [_day_facts(int(d.astype(np.int64))) for d in uniq]
        not_sess_u = np.array([f[0] for f in facts], dtype=bool)
        lo = np.array([f[1] for f in facts], dtype=np.int64)
        hi = np.array([f[2] for f in facts], dtype=np.int64)
        not_sess = np.zeros(n, dtype=bool)
        wrong = np.zeros(n, dtype=bool)
        if len(uniq):
            inv = inv.reshape(-1)
            not_sess[known] = not_sess_u[inv]
            ts_ok = (sip_ok & (sip > 0))[known]
            s_k = sip[known]
            wrong[known] = ts_ok & ~not_sess_u[inv] & ((s_k < lo[inv]) | (s_k >= hi[inv]))
        out.append((not_sess, "trade_date", R_NOT_SESSION))
        out.append((wrong, "trade_date", R_WRONG_SESSION))
    return out, unchecked


#: ``(bars, highs, keys)`` of the frame :func:`_session_high_index` indexed last (the streaming
#: path validates every step against the same session highs until its bars are read again); one
#: tuple, read and replaced whole, so threads never see one frame's highs with another's keys
_HIGH_INDEX: list[tuple[pd.DataFrame, pd.Series, pd.MultiIndex] | None] = [None]


def _session_high_index(bars_1m: pd.DataFrame) -> tuple[pd.Series, pd.MultiIndex]:
    """The highest high per (ticker, session) of ``bars_1m`` and its (normalised ticker, day)
    keys; kept for the frame last asked about (the same object: callers replace their bars
    frame, they do not write into it)."""
    last = _HIGH_INDEX[0]
    if last is not None and last[0] is bars_1m:
        return last[1], last[2]
    b = bars_1m[["ticker", "trade_date", "high"]]
    hi = b.groupby(["ticker", "trade_date"], sort=False)["high"].max()
    keys = pd.MultiIndex.from_arrays([
        pd.Index(_norm_ticker(hi.index.get_level_values(0).to_numpy(dtype=object))),
        pd.DatetimeIndex(hi.index.get_level_values(1)).values.astype("datetime64[D]"),
    ])
    _HIGH_INDEX[0] = (bars_1m, hi, keys)
    return hi, keys


@functools.lru_cache(maxsize=4096)
def _day_facts(day: int) -> tuple[bool, int, int]:
    """For a date (days since the epoch): not a trading session, and its New York day
    [midnight, next midnight) in UTC ns (a holiday lookup and two time-zone conversions,
    asked again by every batch of the same day)."""
    d = pd.Timestamp(np.datetime64(day, "D"))
    return (not calendar.is_session(d.date()), d.tz_localize("America/New_York").value,
            (d + pd.Timedelta(days=1)).tz_localize("America/New_York").value)


def _float(s: pd.Series | None, n: int) -> np.ndarray:
    if s is None:
        return np.full(n, np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
