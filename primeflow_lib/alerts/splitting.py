"""Splitting a message over a channel's length limit into parts that rejoin exactly.

Limits (:data:`LIMITS`): Telegram 4096, Discord 2000, Slack 4000 (Slack truncates ``text`` at
40,000 characters but advises keeping messages under 4,000 so they stay readable; alerts are
far shorter, so only pathological texts are ever split). The webhook, console and file sinks
take any length.

Length is counted in UTF-16 code units by default, as the chat APIs do (an emoji counts 2),
which is never less than Python's ``len``.

Cut points, best first: after the last newline that fits, after the last whitespace, else a hard
cut. A cut never falls inside a markup token whose halves would break the part: an HTML tag or
entity and a short ``<b>..</b>`` element (Telegram), a ``<...>`` link or ``&amp;`` entity (Slack),
a backslash escape or a ``**bold**`` run (Discord); when no such cut exists (a token longer than the
limit) the cut is hard. ``"".join(split_message(t, n)) == t`` always holds, and every part is
within the limit.
"""

from __future__ import annotations

import bisect
import re
from itertools import accumulate

LIMITS: dict[str, int | None] = {
    "telegram": 4096,
    "discord": 2000,
    "slack": 4000,
    "webhook": None,
    "console": None,
    "file": None,
    "sink": None,
}

_PROTECTED: dict[str, tuple[re.Pattern[str], ...]] = {
    "html": (
        re.compile(r"<([a-zA-Z][a-zA-Z0-9]{0,9})(?:\s[^<>]{0,100})?>[^<]{0,300}</\1>"),
        re.compile(r"<[^<>\n]{1,100}>"),
        re.compile(r"&#?[a-zA-Z0-9]{1,10};"),
    ),
    "slack": (
        re.compile(r"<[^<>\n]{1,200}>"),
        re.compile(r"&(?:amp|lt|gt);"),
    ),
    "discord": (
        re.compile(r"\*\*[^*\n]{1,200}\*\*"),
        re.compile(r"\\."),
    ),
    "plain": (),
}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram and Discord count)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _unsafe_cuts(text: str, markup: str) -> bytearray:
    """``out[c] == 1`` when cutting before ``text[c]`` would split a protected token."""
    out = bytearray(len(text) + 1)
    for pattern in _PROTECTED.get(markup, ()):
        for m in pattern.finditer(text):
            for c in range(m.start() + 1, m.end()):
                out[c] = 1
    return out


def split_message(
    text: str, limit: int, *, markup: str = "plain", units: str = "utf16"
) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` units each.

    Args:
        text: the message; ``""`` gives ``[]`` (nothing to send).
        limit: maximum length of a part (at least 2, so an emoji always fits).
        markup: ``html``, ``slack``, ``discord`` or ``plain``: which tokens must not be cut.
        units: ``utf16`` (default) or ``chars`` (Python code points).
    Returns:
        The parts, in order; joined they give ``text`` back exactly.
    """
    if limit < 2:
        raise ValueError(f"split_message: limit must be >= 2, got {limit}")
    if units not in ("utf16", "chars"):
        raise ValueError(f"split_message: units must be 'utf16' or 'chars', got {units!r}")
    if not text:
        return []
    widths = [2 if units == "utf16" and ord(ch) > 0xFFFF else 1 for ch in text]
    cum = [0, *accumulate(widths)]  # cum[i] = length of text[:i]
    if cum[-1] <= limit:
        return [text]
    unsafe = _unsafe_cuts(text, markup)
    parts: list[str] = []
    pos, n = 0, len(text)
    while pos < n:
        if cum[n] - cum[pos] <= limit:
            parts.append(text[pos:])
            break
        # largest end with cum[end] - cum[pos] <= limit; > pos because limit >= 2 >= any width
        end = bisect.bisect_right(cum, cum[pos] + limit) - 1
        cut = _best_cut(text, pos, end, unsafe)
        parts.append(text[pos:cut])
        pos = cut
    return parts


def _best_cut(text: str, pos: int, end: int, unsafe: bytearray) -> int:
    """The cut in ``(pos, end]``: after a newline, else after whitespace, else the last safe
    position, else ``end``."""
    c = end
    while True:
        i = text.rfind("\n", pos, c)
        if i < 0:
            break
        if not unsafe[i + 1]:
            return i + 1
        c = i
    for c in range(end, pos, -1):
        if text[c - 1].isspace() and not unsafe[c]:
            return c
    for c in range(end, pos, -1):
        if not unsafe[c]:
            return c
    return end


def split_for_channel(text: str, channel_type: str, markup: str) -> list[str]:
    """Parts of ``text`` for a channel type (one part when the type has no limit)."""
    limit = LIMITS.get(channel_type)
    if limit is None:
        return [text] if text else []
    return split_message(text, limit, markup=markup)
