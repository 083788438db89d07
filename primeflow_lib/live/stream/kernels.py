"""Compiled loops of the incremental scorer (:mod:`primeflow_lib.live.stream.scorer`).

They follow, step by step, loops of the classifier (:mod:`primeflow_lib.flow.classify_kernels`)
whose *state* the batch path never needs to expose: where each structure bucket starts (so the
stream only finalises whole buckets) and the tick-rule direction after each print (so a contract's
next order continues from it). The equivalence tests (replayed session = daily batch) fail if
they ever drift from the classifier.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def bucket_starts(ukey, ts, window_ns):  # pragma: no cover - compiled
    """Prints sorted by (underlying key, time): the index of the first print of each print's
    bucket (a run of prints of one underlying within ``window_ns`` of the run's first print, as
    in ``classify_kernels.find_structures``)."""
    n = ukey.shape[0]
    out = np.empty(n, np.int64)
    i = 0
    while i < n:
        j = i + 1
        while j < n and ukey[j] == ukey[i] and ts[j] - ts[i] <= window_ns:
            j += 1
        for k in range(i, j):
            out[k] = i
        i = j
    return out


@numba.njit(cache=True)
def tick_directions(ckey, price, code_in, code_out):  # pragma: no cover - compiled
    """Kept prints in time order (as given to ``classify_kernels.tick_and_group``, ``code_in``
    its input codes, ``code_out`` its output): the tick-rule direction in force *after* each print
    (+1 uptick, -1 downtick, 0 none), the state the next print of the contract starts from."""
    n = ckey.shape[0]
    out = np.zeros(n, np.int8)
    last_dir = 0
    for i in range(n):
        new_contract = i == 0 or ckey[i] != ckey[i - 1]
        if new_contract:
            last_dir = 0
        if code_in[i] < 0:
            c = code_out[i]
            last_dir = 1 if c < 3 else (-1 if c > 3 else 0)
        elif not new_contract:
            if price[i] > price[i - 1]:
                last_dir = 1
            elif price[i] < price[i - 1]:
                last_dir = -1
        out[i] = last_dir
    return out
