"""The lake: partitioned fact tables as Delta Lake tables on a folder or S3-compatible storage,
behind the warehouse interface (:mod:`primeflow_lib.warehouse` routes writes and registers the
tables on every DuckDB connection). Off unless ``PRIMEFLOW_LAKE_URI`` is set; see
:mod:`primeflow_lib.lake.settings` for the settings and :mod:`primeflow_lib.lake.delta` for how
tables are written and read. User manual: ``docs/scaling.md``."""

from primeflow_lib.lake.settings import (
    DEFAULT_LAKE_TABLES,
    LakeConfigError,
    LakeSettings,
    lake_settings,
)

__all__ = ["DEFAULT_LAKE_TABLES", "LakeConfigError", "LakeSettings", "lake_settings"]
