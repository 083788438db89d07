"""Trade condition codes per vendor and what each means for flow.

Every vendor sends its own codes: Massive (and the synthetic vendor) the OPRA condition ids of
``GET /v3/reference/conditions?asset_class=options`` (``"219"``, ``"232,209"``), Cboe DataShop
one ``trade_condition_id`` per print, Databento no sale condition at all on OPRA trades but a
``flags`` bit field on every record. ``flow.option_prints.conditions`` stores the codes **as
sent** (comma-joined), and the row's ``vendor`` says whose codes they are.

The meaning of each code comes from **one table in config**, the ``conditions`` section of
``default_config.yaml``: ``conditions.maps.<map>.<code>`` is a list of meanings and
``conditions.vendor_maps`` names the map that reads each vendor's rows (``default`` for vendors
not listed). The meanings:

==============  =======================================================================
meaning         what the flow engine does (see :mod:`primeflow_lib.flow.classify`)
==============  =======================================================================
regular         a normal print
cancel          drops itself and the print it cancels
late            volume only, never a signal (late / out of sequence / untrusted time)
iso             intermarket sweep: ``has_iso`` on the event
auction         auction / cross / floor: a lone print is a ``block``
negotiated      never joins neighbouring prints into a sweep or split
multileg        a leg of a spread: non-directional, event ``multileg``
stock_option    tied to stock (buy-write, ...): non-directional, event ``stock_option``
compression     dropped and counted
extended_hours  flagged ``is_extended``
==============  =======================================================================

A code that is not in its vendor's map (or a token that is not an integer) is **unknown**: the
print is kept for volume, its event is flagged ``has_unknown_condition`` and can never trigger a
signal, and the code is counted per map in the classifier's ``unknown_condition_codes`` (we never
guess what a code means, and never treat an unknown code as regular).

:func:`flag_table` parses each distinct (vendor, condition string) pair once, so 10 million
prints with a few hundred distinct pairs cost one factorize.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MEANINGS = (
    "regular",
    "cancel",
    "late",
    "iso",
    "auction",
    "negotiated",
    "multileg",
    "stock_option",
    "compression",
    "extended_hours",
)

# bit flags (uint16) of a print
F_CANCEL = 1 << 0
F_LATE = 1 << 1
F_ISO = 1 << 2
F_CROSS = 1 << 3  # auction / cross / floor
F_NEGOTIATED = 1 << 4
F_MULTILEG = 1 << 5
F_STOCKOPT = 1 << 6
F_COMPRESSION = 1 << 7
F_EXTENDED = 1 << 8
F_UNKNOWN = 1 << 9  # a code outside the vendor's map, or a token that is not an integer

MEANING_FLAGS: dict[str, int] = {
    "regular": 0,
    "cancel": F_CANCEL,
    "late": F_LATE,
    "iso": F_ISO,
    "auction": F_CROSS,
    "negotiated": F_NEGOTIATED,
    "multileg": F_MULTILEG,
    "stock_option": F_STOCKOPT,
    "compression": F_COMPRESSION,
    "extended_hours": F_EXTENDED,
}


class ConditionMapError(ValueError):
    """A condition map in config is malformed; the message names the dotted key."""


@dataclass(frozen=True)
class ConditionMaps:
    """The parsed ``conditions`` config: ``maps[name][code] -> flags`` and the vendor -> map
    choice (``default`` for vendors not listed)."""

    maps: dict[str, dict[int, int]]
    vendor_maps: dict[str, str]

    def map_for(self, vendor: str) -> str:
        """Name of the map that reads ``vendor``'s codes."""
        return self.vendor_maps.get(str(vendor), self.vendor_maps["default"])


def load_condition_maps(section: Mapping[str, Any] | None = None) -> ConditionMaps:
    """Parse the ``conditions`` config section (default: the packaged one).

    Raises:
        ConditionMapError: an unknown meaning, a code that is not an integer, a vendor mapped to
            a map that does not exist, or no ``default`` vendor map; the message names the key.
    """
    if section is None:
        from primeflow_lib.config import default_config

        section = default_config()["conditions"]
    maps: dict[str, dict[int, int]] = {}
    for name, table in (section.get("maps") or {}).items():
        out: dict[int, int] = {}
        for code, meanings in (table or {}).items():
            key = f"conditions.maps.{name}.{code}"
            try:
                c = int(str(code).strip())
            except ValueError:
                raise ConditionMapError(f"{key}: a condition code must be an integer") from None
            if isinstance(meanings, str):
                meanings = [meanings]
            f = 0
            for m in meanings or ():
                if m not in MEANING_FLAGS:
                    raise ConditionMapError(
                        f"{key}: unknown meaning {m!r} (known: {', '.join(MEANINGS)})"
                    )
                f |= MEANING_FLAGS[m]
            out[c] = f
        maps[str(name)] = out
    vendor_maps = {str(k): str(v) for k, v in (section.get("vendor_maps") or {}).items()}
    if "default" not in vendor_maps:
        raise ConditionMapError("conditions.vendor_maps: needs a 'default' entry")
    for vendor, name in vendor_maps.items():
        if name not in maps:
            raise ConditionMapError(
                f"conditions.vendor_maps.{vendor}: map {name!r} is not declared under "
                f"conditions.maps (declared: {', '.join(sorted(maps))})"
            )
    return ConditionMaps(maps=maps, vendor_maps=vendor_maps)


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


def flags_of(text: object, table: Mapping[int, int]) -> tuple[int, list[str]]:
    """Bit flags of one condition string under one map, and its unknown tokens."""
    ids, bad = parse_conditions(text)
    unknown = list(bad)
    f = F_UNKNOWN if bad else 0
    for i in ids:
        if i in table:
            f |= table[i]
        else:
            f |= F_UNKNOWN
            unknown.append(str(i))
    return f, unknown


def flag_table(
    cond_codes: np.ndarray,
    cond_values: np.ndarray,
    vendor_codes: np.ndarray,
    vendor_values: np.ndarray,
    maps: ConditionMaps,
) -> tuple[np.ndarray, dict[str, int]]:
    """Flags per print from its (vendor, condition string) pair.

    Args:
        cond_codes: per print, index into ``cond_values`` (the distinct condition strings).
        vendor_codes: per print, index into ``vendor_values`` (-1 = no vendor: default map).

    Returns:
        ``(flags uint16 per print, unknown)`` where ``unknown`` counts prints per
        ``"<map>:<code>"`` whose code is outside the map.
    """
    n = len(cond_codes)
    if n == 0:
        return np.zeros(0, np.uint16), {}
    map_names = sorted(maps.maps)
    vmap = np.array(
        [map_names.index(maps.map_for(v)) for v in np.asarray(vendor_values, dtype=object)]
        + [map_names.index(maps.vendor_maps["default"])],
        dtype=np.int64,
    )
    m_code = vmap[np.where(vendor_codes < 0, len(vmap) - 1, vendor_codes)]
    nc = max(len(cond_values), 1)
    # a dense (map, condition) table: a few maps x the distinct strings; no sort of the prints
    pair = m_code * nc + cond_codes
    counts = np.bincount(pair, minlength=len(map_names) * nc)
    ftab = np.zeros(len(counts), np.uint16)
    unknown: dict[str, int] = {}
    for p in np.flatnonzero(counts):
        name = map_names[int(p) // nc]
        f, unk = flags_of(cond_values[int(p) % nc], maps.maps[name])
        ftab[p] = f
        for u in unk:
            key = f"{name}:{u}"
            unknown[key] = unknown.get(key, 0) + int(counts[p])
    return ftab[pair], unknown


def unknown_ids(conditions: pd.Series, table: Mapping[int, int]) -> list[str]:
    """The distinct unknown condition tokens in a column under one map (for messages), sorted."""
    out: set[str] = set()
    for u in pd.unique(conditions.dropna()):
        out.update(flags_of(u, table)[1])
    return sorted(out)
