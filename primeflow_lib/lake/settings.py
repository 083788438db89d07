"""Where the lake is and which tables live there: read from the environment, checked early.

The lake is **off** unless ``PRIMEFLOW_LAKE_URI`` is set (``make demo`` and the default profile
never set it: everything stays in the DuckDB file).

=============================  ===============================================================
variable                       meaning
=============================  ===============================================================
``PRIMEFLOW_LAKE_URI``         root of the lake: a local folder (``/data/lake``,
                               ``file:///data/lake``) or S3-compatible storage
                               (``s3://bucket/prefix``). Each table is a Delta table under
                               ``<root>/<schema>/<table>``.
``PRIMEFLOW_LAKE_TABLES``      comma-separated ``schema.table`` names kept in the lake; default
                               :data:`DEFAULT_LAKE_TABLES`. Each must be declared in
                               :mod:`primeflow_lib.schema` with a DATE partition column.
``AWS_ENDPOINT_URL``           S3 endpoint for S3-compatible servers (MinIO, Ceph, moto ...);
                               unset = AWS.
``AWS_REGION``                 S3 region (default ``us-east-1``).
``AWS_ACCESS_KEY_ID`` /        credentials (only from the environment, never from files in the
``AWS_SECRET_ACCESS_KEY``      repository; never logged).
``AWS_ALLOW_HTTP``             ``true`` to allow a plain-HTTP endpoint (set automatically when
                               ``AWS_ENDPOINT_URL`` starts with ``http://``).
=============================  ===============================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from primeflow_lib.schema import Table, table
from primeflow_lib.warehouse_errors import WarehouseError

URI_ENV = "PRIMEFLOW_LAKE_URI"
TABLES_ENV = "PRIMEFLOW_LAKE_TABLES"

#: the partitioned fact tables that grow with every session (the big ones)
DEFAULT_LAKE_TABLES = (
    "flow.option_prints",
    "flow.flow_events",
    "flow.flow_context",
    "flow.signals",
    "market.ohlcv_intraday",
    "market.option_chain",
)

_S3_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
           "AWS_SESSION_TOKEN", "AWS_ALLOW_HTTP")


class LakeConfigError(WarehouseError):
    """A lake setting is wrong; the message names the variable and its value."""


@dataclass(frozen=True)
class LakeSettings:
    """The lake's root, its tables and the storage options passed to delta-rs."""

    root: str
    tables: tuple[str, ...]
    storage_options: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, t: Table) -> str:
        """The Delta table of ``t``: ``<root>/<schema>/<name>``."""
        return f"{self.root.rstrip('/')}/{t.schema}/{t.name}"

    def holds(self, fqn: str) -> bool:
        return fqn in self.tables

    def describe(self) -> str:
        """``PRIMEFLOW_LAKE_URI=<root>`` plus the endpoint when one is set (no credentials)."""
        ep = self.storage_options.get("AWS_ENDPOINT_URL")
        return f"{URI_ENV}={self.root}" + (f" (AWS_ENDPOINT_URL={ep})" if ep else "")


def _root(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("file://"):
        raw = urlparse(raw).path
    if raw.startswith("s3://"):
        bucket = urlparse(raw).netloc
        if not bucket:
            raise LakeConfigError(f"{URI_ENV}={raw!r} names no bucket (expected s3://bucket/prefix)")
        return raw.rstrip("/")
    if "://" in raw:
        raise LakeConfigError(
            f"{URI_ENV}={raw!r}: only a local folder, file:// or s3:// (S3-compatible storage) is supported")
    return os.path.abspath(raw)


def _tables(raw: str | None) -> tuple[str, ...]:
    names = tuple(s.strip() for s in raw.split(",") if s.strip()) if raw else DEFAULT_LAKE_TABLES
    for fqn in names:
        try:
            t = table(fqn)
        except KeyError as exc:
            raise LakeConfigError(f"{TABLES_ENV}: {exc.args[0]}") from None
        if t.partition_column is None or t.column(t.partition_column).type != "DATE":
            raise LakeConfigError(
                f"{TABLES_ENV}: {fqn} has no DATE partition column; only tables rewritten one "
                "trading day at a time can live in the lake")
    return names


def lake_settings() -> LakeSettings | None:
    """The lake described by the environment, or ``None`` when ``PRIMEFLOW_LAKE_URI`` is unset
    (the embedded profile: every table in DuckDB).

    Raises:
        LakeConfigError: a malformed URI or table list (naming the variable and value).
    """
    raw = os.environ.get(URI_ENV, "").strip()
    if not raw:
        return None
    root = _root(raw)
    opts: dict[str, str] = {}
    if root.startswith("s3://"):
        for k in _S3_ENV:
            v = os.environ.get(k)
            if v:
                opts[k] = v
        opts.setdefault("AWS_REGION", "us-east-1")
        if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
            opts.setdefault("AWS_ALLOW_HTTP", "true")
    return LakeSettings(root=root, tables=_tables(os.environ.get(TABLES_ENV)), storage_options=opts)
