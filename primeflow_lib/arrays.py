"""Array helpers shared by the flow modules (fast paths for millions of rows).

Strings are the expensive part of a 10-million-print batch, so the engine turns string columns
into integer codes once (Arrow's C++ dictionary encoding when the column is Arrow-backed, as
pandas 3 ``str`` columns are), works on integers, and builds large output string columns as
categoricals or Arrow arrays, never as Python objects row by row.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def factorize(values: pd.Series | np.ndarray | None, n: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (int64, -1 for missing) and the distinct values (object ndarray).

    Categoricals use their codes; Arrow-backed strings use Arrow dictionary encoding; anything
    else goes through :func:`pandas.factorize`. ``None`` gives ``n`` codes of -1.
    """
    if values is None:
        return np.full(n, -1, np.int64), np.array([], dtype=object)
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        return (
            values.cat.codes.to_numpy().astype(np.int64),
            np.asarray(values.cat.categories, dtype=object),
        )
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        try:
            arr = pa.array(values)
            d = pc.dictionary_encode(arr)
            if isinstance(d, pa.ChunkedArray):
                d = d.combine_chunks()
            codes = pc.fill_null(d.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
            return codes, np.asarray(d.dictionary.to_pylist(), dtype=object)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def codes_in(values: pd.Series | np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Index of each value in ``universe`` (a sorted str ndarray, e.g. from ``np.unique``),
    -1 when it is absent or missing (int64). Values are compared as str."""
    codes, uniq = factorize(values)
    uniq = np.asarray(uniq, dtype=object).astype(str)
    if not len(universe) or not len(uniq):
        return np.full(len(codes), -1, np.int64)
    pos = np.searchsorted(universe, uniq)
    hit = (pos < len(universe)) & (universe[np.minimum(pos, len(universe) - 1)] == uniq)
    per = np.where(hit, pos, -1)
    return np.where(codes >= 0, per[np.maximum(codes, 0)], -1).astype(np.int64)


def categorical(codes: np.ndarray, labels, *, sort: bool = False) -> pd.Categorical:
    """A categorical column from codes into ``labels`` (-1 = missing).

    ``sort=True`` (for data-derived labels such as tickers) orders the categories and merges
    duplicate labels, so the result does not depend on the order rows arrived in.
    """
    labels = pd.Index(list(labels), dtype=object)
    if sort or labels.has_duplicates:
        uniq, inv = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
        codes = np.where(codes < 0, -1, inv[np.maximum(codes, 0)])
        labels = pd.Index(uniq, dtype=object)
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=labels)


def hex_strings(h: np.ndarray) -> pd.Series:
    """uint64 hashes -> a ``str`` Series of 16 lowercase hex digits (built in Arrow, no Python
    loop)."""
    h = np.ascontiguousarray(h, dtype=">u8")
    b = h.view(np.uint8).reshape(-1, 8)
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((len(h), 16), np.uint8)
    out[:, 0::2] = digits[b >> 4]
    out[:, 1::2] = digits[b & 15]
    n = len(h)
    offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int32)
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))
    return pd.Series(arr, dtype="str")


def join_segments(
    values: pd.Series | np.ndarray, rows: np.ndarray, starts: np.ndarray, sep: str = ","
) -> pd.Series:
    """For segments ``rows[starts[i]:starts[i+1]]`` join ``values`` at those rows with ``sep``
    (Arrow ``binary_join``): one string per segment."""
    arr = (
        pa.array(values)
        if isinstance(values, pd.Series)
        else pa.array(np.asarray(values, dtype=object))
    )
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    taken = arr.take(pa.array(rows.astype(np.int64)))
    if pa.types.is_large_string(taken.type):
        taken = taken.cast(pa.string())
    offs = np.append(starts, len(rows)).astype(np.int32)
    la = pa.ListArray.from_arrays(pa.array(offs), taken)
    return pd.Series(pc.binary_join(la, sep), dtype="str")


def mix(*cols: np.ndarray) -> np.ndarray:
    """Combine uint64-viewable columns into one 64-bit hash (order matters): a splitmix-style
    mix per column, one compiled pass over the rows."""
    mat = np.empty((len(cols[0]), len(cols)), np.uint64)
    for j, c in enumerate(cols):
        c = np.ascontiguousarray(c)
        mat[:, j] = c.view(np.uint64) if c.dtype.itemsize == 8 else c.astype(np.uint64)
    return _mix_rows(mat)


@numba.njit(cache=True)
def _mix_rows(mat):  # pragma: no cover - compiled
    n, k = mat.shape
    out = np.empty(n, np.uint64)
    golden = np.uint64(0x9E3779B97F4A7C15)
    m1 = np.uint64(0xBF58476D1CE4E5B9)
    s6 = np.uint64(6)
    s2 = np.uint64(2)
    s31 = np.uint64(31)
    for i in range(n):
        h = np.uint64(0)
        for j in range(k):
            h = h ^ (mat[i, j] + golden + (h << s6) + (h >> s2))
            h = (h ^ (h >> s31)) * m1
        out[i] = h
    return out


@numba.njit(cache=True)
def stable_argsort(a):  # pragma: no cover - compiled
    """Indices that sort ``a`` ascending, equal values keeping their order (what
    ``np.argsort(a, kind="stable")`` returns), for use inside compiled code: a bottom-up merge
    sort that compiles in a fraction of the ~3 s numba needs for its own ``argsort(kind=
    "mergesort")``, paid on the first run of a fresh checkout."""
    n = a.shape[0]
    idx = np.arange(n)
    buf = np.empty(n, np.int64)
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if a[idx[j]] < a[idx[i]]:
                    buf[k] = idx[j]
                    j += 1
                else:
                    buf[k] = idx[i]
                    i += 1
                k += 1
            while i < mid:
                buf[k] = idx[i]
                i += 1
                k += 1
            while j < hi:
                buf[k] = idx[j]
                j += 1
                k += 1
        idx, buf = buf, idx
        width *= 2
    return idx


def hash_strings(values) -> np.ndarray:
    """Deterministic uint64 hash per string (pandas' SipHash with its fixed key); use on small
    arrays (distinct values), then index by codes."""
    arr = np.array([str(v) for v in np.asarray(values, dtype=object)], dtype=object)
    return pd.util.hash_array(arr, categorize=False)


def parse_days(s: pd.Series) -> np.ndarray:
    """datetime64[D] per row (NaT where missing or unparseable), parsing each distinct value once."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.to_numpy("datetime64[ns]").astype("datetime64[D]")
    codes, uniques = factorize(s)
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object), errors="coerce", format="mixed")
    vals = np.append(parsed.to_numpy("datetime64[ns]").astype("datetime64[D]"), np.datetime64("NaT", "D"))
    return vals[np.where(codes < 0, len(vals) - 1, codes)]
