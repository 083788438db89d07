"""``dbt_like_sql/``: one SELECT per ``.sql`` file, materialized as ``marts.<file stem>``.

Each file starts with a header naming what it reads, so the asset graph is explicit::

    -- depends_on: flow.flow_events, market.universe
    -- description: Premium and order counts per ticker and day.
    SELECT ...

The table is rebuilt whole in one transaction (``CREATE OR REPLACE TABLE marts.x AS SELECT``),
so readers of the read copy see the old or the new version, never a partial one.
"""

import hashlib
import re
from pathlib import Path

import dagster as dg

from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, WarehouseResource

SQL_DIR = Path(__file__).resolve().parents[2] / "dbt_like_sql"
_HEADER = re.compile(r"^--\s*(depends_on|description):\s*(.*)$", re.M)
_TABLE = re.compile(r"^[a-z_]+\.[a-z_][a-z0-9_]*$")


class SqlModelError(ValueError):
    """A malformed .sql model file; the message names the file and what is wrong."""


def parse_model(path: Path) -> tuple[str, list[str], str, str]:
    """``(name, depends_on tables, description, select_sql)`` of a model file."""
    name = path.stem
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SqlModelError(f"{path}: model file names must be lower_snake_case identifiers")
    text = path.read_text()
    headers = dict((k, v.strip()) for k, v in _HEADER.findall(text))
    deps = [d.strip() for d in headers.get("depends_on", "").split(",") if d.strip()]
    for d in deps:
        if not _TABLE.match(d):
            raise SqlModelError(f"{path}: depends_on entry {d!r} is not schema.table")
    body = _HEADER.sub("", text).strip().rstrip(";")
    if not re.match(r"(?is)^\s*(with|select)\b", body):
        raise SqlModelError(f"{path}: a model is one SELECT (or WITH ... SELECT) statement")
    if ";" in body:
        raise SqlModelError(f"{path}: a model holds exactly one statement")
    return name, deps, headers.get("description", ""), body


def build_sql_asset(path: Path) -> dg.AssetsDefinition:
    name, deps, description, body = parse_model(path)

    @dg.asset(
        key=dg.AssetKey(["marts", name]),
        deps=[dg.AssetKey(d.split(".")) for d in deps],
        description=description or f"marts.{name} from dbt_like_sql/{path.name}",
        pool=DUCKDB_WRITE_POOL,
        group_name="marts",
        kinds={"duckdb", "sql"},
        code_version=hashlib.sha256(body.encode()).hexdigest()[:12],
        # rebuilt whenever an upstream partition is updated (the daemon's automation sensor)
        automation_condition=dg.AutomationCondition.eager(),
    )
    def _model(warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS {body}")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            n = con.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0]
            head = con.execute(f"SELECT * FROM marts.{name} LIMIT 8").df()
        return dg.MaterializeResult(
            metadata={"rows": dg.MetadataValue.int(n), "preview": preview_md(head),
                      "sql": dg.MetadataValue.md(f"```sql\n{body}\n```")}
        )

    return _model


def sql_assets() -> list[dg.AssetsDefinition]:
    return [build_sql_asset(p) for p in sorted(SQL_DIR.glob("*.sql"))]


@dg.definitions
def sql_model_defs() -> dg.Definitions:
    return dg.Definitions(assets=sql_assets())
