"""Errors raised by the research workbench.

Every message names what a user needs to fix it: the field, the offending value and, for bar
data, the row (1-based data row; for a CSV also the file line, counting the header as line 1).
"""

from __future__ import annotations


class ResearchError(ValueError):
    """Base class for research workbench errors."""


class BarsError(ResearchError):
    """OHLCV input that cannot be used: missing column, bad value, unsorted or duplicate dates."""


class RunConfigError(ResearchError):
    """A RunConfig that is invalid or asks for something not available yet."""


class DataSourceError(ResearchError):
    """A warehouse file, table or symbol that is missing or empty."""
