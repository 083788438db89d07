"""Compiled kernels of the classifier (:mod:`primeflow_lib.flow.classify`).

Each kernel is one pass over arrays the classifier has put in a stated order; the rules they
implement are documented in the classifier's module doc, not here. They take and return plain
numpy arrays so they compile once (``cache=True``) and run without Python objects.
"""

from __future__ import annotations

import numba
import numpy as np

from primeflow_lib.arrays import stable_argsort


@numba.njit(cache=True)
def group_sort(ckey, seq, nkeys):  # pragma: no cover - compiled
    """Row indices sorted by (ckey, seq), ties in row order: a counting sort by ``ckey`` and a
    local stable sort of the blocks whose ``seq`` does not already ascend."""
    n = ckey.shape[0]
    counts = np.zeros(nkeys + 1, np.int64)
    for i in range(n):
        counts[ckey[i] + 1] += 1
    for k in range(nkeys):
        counts[k + 1] += counts[k]
    pos = counts[:nkeys].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        k = ckey[i]
        order[pos[k]] = i
        pos[k] += 1
    for k in range(nkeys):
        a, b = counts[k], counts[k + 1]
        ok = True
        for j in range(a + 1, b):
            if seq[order[j]] < seq[order[j - 1]]:
                ok = False
                break
        if not ok:
            block = order[a:b].copy()
            local = stable_argsort(seq[block])
            for j in range(b - a):
                order[a + j] = block[local[j]]
    return order


@numba.njit(cache=True)
def late_and_time_order(ckey, ts):  # pragma: no cover - compiled
    """Input in received order. Returns (late_by_ts, perm) where perm sorts each contract's block
    by ts (stable), leaving blocks in place."""
    n = ckey.shape[0]
    late = np.zeros(n, np.bool_)
    perm = np.arange(n)
    i = 0
    while i < n:
        run_max = ts[i]
        sorted_ok = True
        j = i + 1
        while j < n and ckey[j] == ckey[i]:
            if ts[j] < run_max:
                late[j] = True
                sorted_ok = False
            else:
                run_max = ts[j]
            j += 1
        if not sorted_ok:
            local = stable_argsort(ts[i:j])
            for k in range(j - i):
                perm[i + k] = i + local[k]
        i = j
    return late, perm


@numba.njit(cache=True)
def duplicates(ck, t, ident, exch, price, size, cond):  # pragma: no cover - compiled
    """Time order. A print is a duplicate of an earlier (received) print of the same run of equal
    (contract, timestamp) with the same identity (vendor sequence, else position at the source)
    and the same exchange, price, size and condition code."""
    n = ck.shape[0]
    dup = np.zeros(n, np.bool_)
    i = 0
    while i < n:
        j = i + 1
        while j < n and ck[j] == ck[i] and t[j] == t[i]:
            j += 1
        if j - i > 1:
            for a in range(i + 1, j):
                for b in range(i, a):
                    if (
                        not dup[b]
                        and ident[a] == ident[b]
                        and exch[a] == exch[b]
                        and price[a] == price[b]
                        and size[a] == size[b]
                        and cond[a] == cond[b]
                    ):
                        dup[a] = True
                        break
        i = j
    return dup


@numba.njit(cache=True)
def match_cancels(key_run, is_cancel):  # pragma: no cover - compiled
    """Candidates sorted by (exact key, time). Per key run, a stack of live regular prints; a
    cancel pops the nearest earlier one. Returns (removed, unmatched)."""
    n = key_run.shape[0]
    removed = np.zeros(n, np.bool_)
    unmatched = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    top = 0
    for i in range(n):
        if i == 0 or key_run[i] != key_run[i - 1]:
            top = 0
        if is_cancel[i]:
            removed[i] = True
            if top > 0:
                top -= 1
                removed[stack[top]] = True
            else:
                unmatched[i] = True
        else:
            stack[top] = i
            top += 1
    return removed, unmatched


@numba.njit(cache=True)
def _gcd(a, b):  # pragma: no cover - compiled
    while b:
        a, b = b, a % b
    return a


@numba.njit(cache=True)
def _ratio_ok(idx, ck, size, max_ratio, max_legs, tmp_c, tmp_s):  # pragma: no cover
    """True when the prints ``idx`` cover 2..max_legs contracts whose summed sizes are in a ratio
    of small integers (each size / gcd <= max_ratio)."""
    k = 0
    for p in idx:
        found = -1
        for q in range(k):
            if tmp_c[q] == ck[p]:
                found = q
                break
        if found < 0:
            if k == max_legs:
                return False
            tmp_c[k] = ck[p]
            tmp_s[k] = size[p]
            k += 1
        else:
            tmp_s[found] += size[p]
    if k < 2:
        return False
    g = tmp_s[0]
    for q in range(1, k):
        g = _gcd(g, tmp_s[q])
    if g <= 0:
        return False
    for q in range(k):  # noqa: SIM110 - a generator does not compile here
        if tmp_s[q] // g > max_ratio:
            return False
    return True


@numba.njit(cache=True)
def _assign(idx, gid, g):  # pragma: no cover - compiled
    for p in idx:
        gid[p] = g


@numba.njit(cache=True)
def find_structures(
    ukey, ts, ck, size, flagged, vseq, has_vseq, window_ns, max_ratio, max_legs, max_seq_gap,
    waive_flagged,
):  # pragma: no cover - compiled
    """Prints sorted by (underlying-session key, timestamp). A bucket is a run of prints of one
    underlying within ``window_ns`` of its first print. Tried in turn, the first that passes the
    ratio test (2+ contracts, summed sizes in a small-integer ratio) is one structure: the whole
    bucket; its prints that carry a multi-leg condition (``flagged``), when that is a strict
    subset; and, where every print has a vendor sequence number, the runs of sequence numbers no
    more than ``max_seq_gap`` apart (of the flagged prints when there are 2+, else of the
    bucket), each run tested alone. Last, with ``waive_flagged``, the flagged prints still
    unassigned form one structure when they cover 2..max_legs contracts, whatever their ratio.
    Returns the structure number per print (-1: none)."""
    n = ck.shape[0]
    gid = np.full(n, -1, np.int64)
    tmp_c = np.empty(max_legs, np.int64)
    tmp_s = np.empty(max_legs, np.int64)
    g = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and ukey[j] == ukey[i] and ts[j] - ts[i] <= window_ns:
            j += 1
        if j - i >= 2:
            idx = np.arange(i, j)
            nf = 0
            for p in idx:
                if flagged[p]:
                    nf += 1
            sub = np.empty(nf, np.int64)
            q = 0
            for p in idx:
                if flagged[p]:
                    sub[q] = p
                    q += 1
            if _ratio_ok(idx, ck, size, max_ratio, max_legs, tmp_c, tmp_s):
                _assign(idx, gid, g)
                g += 1
            elif 2 <= nf < j - i and _ratio_ok(sub, ck, size, max_ratio, max_legs, tmp_c, tmp_s):
                _assign(sub, gid, g)
                g += 1
            elif max_seq_gap > 0:
                base = sub if nf >= 2 else idx
                all_seq = True
                for p in base:
                    if not has_vseq[p]:
                        all_seq = False
                        break
                if all_seq:
                    o = base[stable_argsort(vseq[base])]
                    a = 0
                    m = o.shape[0]
                    while a < m:
                        b = a + 1
                        while b < m and vseq[o[b]] - vseq[o[b - 1]] <= max_seq_gap:
                            b += 1
                        if b - a >= 2 and _ratio_ok(
                            o[a:b], ck, size, max_ratio, max_legs, tmp_c, tmp_s
                        ):
                            _assign(o[a:b], gid, g)
                            g += 1
                        a = b
            if waive_flagged and nf >= 2:
                k = 0
                for p in sub:
                    if gid[p] < 0:
                        k += 1
                rest = np.empty(k, np.int64)
                k = 0
                for p in sub:
                    if gid[p] < 0:
                        rest[k] = p
                        k += 1
                if k >= 2 and _ratio_ok(rest, ck, size, 1 << 62, max_legs, tmp_c, tmp_s):
                    _assign(rest, gid, g)
                    g += 1
        i = j
    return gid


@numba.njit(cache=True)
def label_structures(gstart, right, strike, expiry, size, dte, roll_max_dte, max_ratio):
    # pragma: no cover - compiled
    """Legs (one row per contract) sorted by structure, then expiry, right, strike; ``gstart``
    the first leg of each structure. Returns the label code per structure (see
    ``classify.STRUCTURES``: 0 vertical, 1 straddle, 2 strangle, 3 calendar, 4 diagonal,
    5 ratio, 6 butterfly, 7 condor, 8 roll, 9 complex)."""
    ng = gstart.shape[0]
    m = right.shape[0]
    out = np.full(ng, 9, np.int8)
    for s in range(ng):
        a = gstart[s]
        b = gstart[s + 1] if s + 1 < ng else m
        k = b - a
        g = size[a]
        for q in range(a + 1, b):
            g = _gcd(g, size[q])
        if g <= 0:
            continue
        same_exp = True
        same_right = True
        for q in range(a + 1, b):
            if expiry[q] != expiry[a]:
                same_exp = False
            if right[q] != right[a]:
                same_right = False
        if k == 2:
            r0, r1 = size[a] // g, size[a + 1] // g
            if same_exp and same_right:
                if r0 == r1:
                    out[s] = 0
                elif r0 <= max_ratio and r1 <= max_ratio:
                    out[s] = 5
            elif same_exp and r0 == r1:
                out[s] = 1 if strike[a] == strike[a + 1] else 2
            elif same_right and r0 == r1:
                near = dte[a] if dte[a] < dte[a + 1] else dte[a + 1]
                if near <= roll_max_dte:
                    out[s] = 8
                elif strike[a] == strike[a + 1]:
                    out[s] = 3
                else:
                    out[s] = 4
        elif k == 3 and same_exp and same_right:
            # sorted by strike within (expiry, right)
            r0, r1, r2 = size[a] // g, size[a + 1] // g, size[a + 2] // g
            w1 = strike[a + 1] - strike[a]
            w2 = strike[a + 2] - strike[a + 1]
            if r0 == r2 and r1 == 2 * r0 and w1 > 0 and abs(w1 - w2) < 1e-9:
                out[s] = 6
        elif k == 4 and same_exp:
            equal = True
            for q in range(a + 1, b):
                if size[q] != size[a]:
                    equal = False
            if not equal:
                continue
            n_call = 0
            for q in range(a, b):
                n_call += right[q]
            if same_right:
                w1 = strike[a + 1] - strike[a]
                w3 = strike[a + 3] - strike[a + 2]
                if w1 > 0 and strike[a + 2] > strike[a + 1] and abs(w1 - w3) < 1e-9:
                    out[s] = 7
            elif n_call == 2:
                # legs sorted by right: puts (right 0) first, then calls, each by strike
                p_lo, p_hi = strike[a], strike[a + 1]
                c_lo, c_hi = strike[a + 2], strike[a + 3]
                if p_lo < p_hi and c_lo < c_hi:
                    if p_hi == c_lo:
                        out[s] = 6  # iron butterfly
                    elif p_hi < c_lo:
                        out[s] = 7  # iron condor
    return out


@numba.njit(cache=True)
def tick_and_group(ckey, ts, price, code, late, pclass, negotiated, sgroup, window_ns):
    # pragma: no cover - compiled
    """Kept prints in time order. Fills tick-rule codes where code < 0 and marks where a new
    order starts."""
    n = ckey.shape[0]
    out = code.copy()
    start = np.zeros(n, np.bool_)
    last_dir = 0
    first_ts = ts[0] if n else 0
    prev_dir = 0
    for i in range(n):
        new_contract = i == 0 or ckey[i] != ckey[i - 1]
        if new_contract:
            last_dir = 0
        if out[i] < 0:
            if new_contract:
                d = 0
            elif price[i] > price[i - 1]:
                d = 1
            elif price[i] < price[i - 1]:
                d = -1
            else:
                d = last_dir
            out[i] = 2 if d > 0 else (4 if d < 0 else 3)
            last_dir = d
        else:
            if not new_contract:
                if price[i] > price[i - 1]:
                    last_dir = 1
                elif price[i] < price[i - 1]:
                    last_dir = -1
        c = out[i]
        dr = 1 if c < 3 else (-1 if c > 3 else 0)
        if (
            new_contract
            or late[i]
            or late[i - 1]
            or negotiated[i]
            or negotiated[i - 1]
            or pclass[i] != pclass[i - 1]
            or sgroup[i] != sgroup[i - 1]
            or dr != prev_dir
            or ts[i] - first_ts > window_ns
        ):
            start[i] = True
            first_ts = ts[i]
        prev_dir = dr
    return out, start


@numba.njit(cache=True)
def aggregate(starts, size, price, flags, late, conf, code, exch, rp):  # pragma: no cover
    """One pass over orders (contiguous segments): totals, OR of flags, lowest confidence,
    size-weighted side code, distinct exchanges, latest received position."""
    ne = starts.shape[0]
    m = size.shape[0]
    e_size = np.zeros(ne, np.int64)
    e_prem = np.zeros(ne, np.float64)
    e_np = np.zeros(ne, np.int32)
    e_flags = np.zeros(ne, np.uint16)
    e_late = np.zeros(ne, np.bool_)
    e_conf = np.zeros(ne, np.int8)
    e_side = np.zeros(ne, np.int8)
    e_nx = np.zeros(ne, np.int32)
    e_last = np.zeros(ne, np.int64)  # index (in kept order) of the latest-received print
    for e in range(ne):
        a = starts[e]
        b = starts[e + 1] if e + 1 < ne else m
        sz = 0
        prem = 0.0
        fl = np.uint16(0)
        lt = False
        cf = np.int8(127)
        wcode = 0.0
        best = a
        nx = 0
        for i in range(a, b):
            sz += size[i]
            prem += price[i] * size[i] * 100.0
            fl |= flags[i]
            lt = lt or late[i]
            if conf[i] < cf:
                cf = conf[i]
            wcode += code[i] * size[i]
            if rp[i] > rp[best]:
                best = i
            seen = False
            for j in range(a, i):
                if exch[j] == exch[i]:
                    seen = True
                    break
            if not seen:
                nx += 1
        e_size[e] = sz
        e_prem[e] = prem
        e_np[e] = b - a
        e_flags[e] = fl
        e_late[e] = lt
        e_conf[e] = cf
        e_side[e] = np.int8(np.rint(wcode / sz)) if sz > 0 else np.int8(3)
        e_nx[e] = nx
        e_last[e] = best
    return e_size, e_prem, e_np, e_flags, e_late, e_conf, e_side, e_nx, e_last
