"""OPRA option trade conditions (Massive / Polygon condition ids) and what each means for flow.

Massive sends each option trade with a list of integer condition ids; ``flow.option_prints`` stores
them comma-joined (``"219"``, ``"232,209"``, ``""`` when none). The ids below are the published
options set (``GET /v3/reference/conditions?asset_class=options``):

======================  ==========================================  ==============================
group                   ids (OPRA abbreviation)                     what the flow engine does
======================  ==========================================  ==============================
cancel                  201 CANC, 203 CNCL, 205 CNCO, 207 CNOL      drop it and the print it
                                                                    cancels (see classify)
late / out of sequence  202 OSEQ, 204 LATE, 206 OPEN, 208 OPNL      volume only, never a signal
auto-execution          209 AUTO                                    normal electronic print
reopening               210 REOP                                    normal print
intermarket sweep       219 ISOI; 228 SLAI, 230 SLCI (ISO auction   ``has_iso`` on the event
                        / cross)
auction / cross / floor 227 SLAN, 228, 229 SLCN, 230, 231 SLFT      a lone print is a BLOCK;
                                                                    227/229/231 never join an order
multi-leg (spread leg)  232-236, 238, 239, 246                      kept, ``multileg``,
                                                                    non-directional
stock-option (tied)     237, 240-245                                kept, ``stock_option``,
                                                                    non-directional
compression             247 MCTP                                    dropped (counted)
extended hours          248 EXHT                                    flagged ``is_extended``
======================  ==========================================  ==============================

Any other id is *unknown*: the print is kept for volume, its event is flagged
``has_unknown_condition`` and can never trigger a signal (we do not guess what a code means).

:func:`condition_flags` parses a column of condition strings into bit flags; it parses each distinct
string once, so 10 million prints with a few hundred distinct condition strings cost one factorize.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from primeflow_lib.arrays import factorize

CANCEL = frozenset({201, 203, 205, 207})
LATE = frozenset({202, 204, 206, 208})
ISO = frozenset({219, 228, 230})
AUCTION_CROSS_FLOOR = frozenset({227, 228, 229, 230, 231})
#: negotiated non-ISO prints: never merged with neighbouring prints into a sweep or split
NEGOTIATED = frozenset({227, 229, 231})
MULTI_LEG = frozenset({232, 233, 234, 235, 236, 238, 239, 246})
STOCK_OPTION = frozenset({237, 240, 241, 242, 243, 244, 245})
COMPRESSION = frozenset({247})
EXTENDED_HOURS = frozenset({248})
NORMAL = frozenset({209, 210})

KNOWN = frozenset(
    CANCEL
    | LATE
    | ISO
    | AUCTION_CROSS_FLOOR
    | MULTI_LEG
    | STOCK_OPTION
    | COMPRESSION
    | EXTENDED_HOURS
    | NORMAL
)

# bit flags (uint16) returned by condition_flags
F_CANCEL = 1 << 0
F_LATE = 1 << 1
F_ISO = 1 << 2
F_CROSS = 1 << 3  # auction / cross / floor (227-231)
F_NEGOTIATED = 1 << 4  # 227, 229, 231
F_MULTILEG = 1 << 5
F_STOCKOPT = 1 << 6
F_COMPRESSION = 1 << 7
F_EXTENDED = 1 << 8
F_UNKNOWN = 1 << 9  # an id outside KNOWN, or a token that is not an integer

_GROUPS = (
    (CANCEL, F_CANCEL),
    (LATE, F_LATE),
    (ISO, F_ISO),
    (AUCTION_CROSS_FLOOR, F_CROSS),
    (NEGOTIATED, F_NEGOTIATED),
    (MULTI_LEG, F_MULTILEG),
    (STOCK_OPTION, F_STOCKOPT),
    (COMPRESSION, F_COMPRESSION),
    (EXTENDED_HOURS, F_EXTENDED),
)


def parse_conditions(text: object) -> tuple[list[int], list[str]]:
    """Split one stored condition string into (ids, bad tokens).

    ``"219"`` -> ``([219], [])``; ``"232, 209"`` -> ``([232, 209], [])``; ``""``/None/NaN ->
    ``([], [])``; ``"219,x"`` -> ``([219], ["x"])``. A JSON-style ``"[219, 209]"`` is accepted too.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return [], []
    s = str(text).strip().strip("[]")
    ids: list[int] = []
    bad: list[str] = []
    for tok in s.split(","):
        tok = tok.strip()
        if not tok:
            continue
        try:
            ids.append(int(tok))
        except ValueError:
            bad.append(tok)
    return ids, bad


def flags_of(text: object) -> int:
    """Bit flags (``F_*``) of one condition string."""
    ids, bad = parse_conditions(text)
    f = F_UNKNOWN if bad else 0
    for i in ids:
        if i not in KNOWN:
            f |= F_UNKNOWN
        for group, bit in _GROUPS:
            if i in group:
                f |= bit
    return f


def condition_flags(conditions: pd.Series) -> np.ndarray:
    """Vectorised :func:`flags_of` over a column: a ``uint16`` array aligned with ``conditions``.

    Each distinct string is parsed once (``pd.factorize``); missing values mean "no conditions".
    """
    codes, uniques = factorize(conditions)
    table = np.fromiter((flags_of(u) for u in uniques), dtype=np.uint16, count=len(uniques))
    table = np.append(table, np.uint16(0))  # code -1 (missing) -> no flags
    return table[np.where(codes < 0, len(table) - 1, codes)]


def unknown_ids(conditions: pd.Series) -> list[str]:
    """The distinct unknown condition tokens in a column (for messages and stats), sorted."""
    out: set[str] = set()
    for u in pd.unique(conditions.dropna()):
        ids, bad = parse_conditions(u)
        out.update(str(i) for i in ids if i not in KNOWN)
        out.update(bad)
    return sorted(out)
