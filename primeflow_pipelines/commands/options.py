"""Option parsing shared by the ``primeflow`` commands."""

from __future__ import annotations

import datetime as dt

import click


def parse_date(value: str | None, name: str) -> dt.date | None:
    """``YYYY-MM-DD`` -> date (None stays None); a click error naming the option otherwise."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form", param_hint=name) from None
