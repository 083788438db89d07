"""Message splitting: every part within the limit, parts rejoin to the original."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primeflow_lib.alerts.splitting import LIMITS, split_message, utf16_len

# Text that looks like alerts (words, newlines, markup tokens, emoji) mixed with arbitrary
# Unicode, so both the preferred and the hard cut paths are exercised.
_tokens = st.sampled_from(
    [
        "word",
        " ",
        "\n",
        "\n\n",
        "<b>SPY</b>",
        "&amp;",
        "&lt;",
        "\\*",
        "**bold**",
        "<https://x|y>",
        "\U0001f680",
        "é",
        "\t",
        "x" * 50,
    ]
)
_ALPHABET = "abc xyz\n\t<>&;*\\_`|@#é\u200b\U0001f680"


def _random_body(seed: int, n: int) -> str:
    """A body of exactly ``n`` characters (hypothesis alone rarely draws 20k-character texts)."""
    rng = random.Random(seed)
    return "".join(rng.choice(_ALPHABET) for _ in range(n))


_bodies = st.one_of(
    st.text(max_size=20_000),
    st.builds(_random_body, st.integers(0, 2**32), st.integers(0, 20_000)),
    st.lists(_tokens, max_size=3_000).map("".join),
    st.lists(st.text(alphabet="ab \n", min_size=1, max_size=200), max_size=150).map("".join),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    body=_bodies,
    limit=st.one_of(st.sampled_from([4096, 2000, 4000]), st.integers(min_value=2, max_value=5000)),
    markup=st.sampled_from(["html", "discord", "slack", "plain"]),
)
def test_parts_fit_and_rejoin(body, limit, markup):
    parts = split_message(body, limit, markup=markup)
    assert "".join(parts) == body
    assert all(utf16_len(p) <= limit for p in parts)
    assert all(p for p in parts)  # no empty POSTs
    if body and utf16_len(body) <= limit:
        assert parts == [body]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="abcdef ", min_size=1, max_size=80), min_size=1, max_size=400))
def test_prefers_line_boundaries(lines):
    body = "\n".join(lines) + "\n"
    parts = split_message(body, 200)
    # every line is at most 80 chars, so a newline always fits: each part ends a line
    assert all(p.endswith("\n") for p in parts)


def test_channel_limits():
    assert LIMITS["telegram"] == 4096 and LIMITS["discord"] == 2000 and LIMITS["slack"] == 4000


def test_does_not_cut_inside_html_entities_or_tags():
    body = ("<b>SPY</b> &amp; " * 400).strip()
    for part in split_message(body, 97, markup="html"):
        # each part is well-formed on its own: balanced tags, whole entities
        assert part.count("<b>") == part.count("</b>")
        assert not re.search(r"&[a-z]*$", part)


def test_emoji_count_two_units():
    body = "\U0001f680" * 3000  # 6000 UTF-16 units
    parts = split_message(body, 4096)
    assert [utf16_len(p) for p in parts] == [4096, 1904]


def test_empty_and_bad_limit():
    assert split_message("", 10) == []
    with pytest.raises(ValueError):
        split_message("abc", 1)
