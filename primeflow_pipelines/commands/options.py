"""Option parsing shared by the ``primeflow`` commands."""

from __future__ import annotations

import datetime as dt

import click


def parse_date(value: str | None, name: str) -> dt.date | None:
    """``YYYY-MM-DD`` -> date (None stays None); a click error naming the option otherwise (an
    empty value too: it is not "no date")."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form", param_hint=name) from None


def write_output(path: str, text: str, name: str) -> None:
    """Write ``text`` to the file a user named with option ``name``; a path that cannot be written
    (a missing folder, a directory, no permission) is a click error naming the option."""
    from pathlib import Path

    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot write: {exc.strerror or exc}", param_hint=name) from None
