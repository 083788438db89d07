"""System status for the workbench: the pipeline's heartbeat, Dagster's last runs and
materializations per asset, sensor lag, alert delivery counts and today's quarantine counts.

Two sources, both read-only and never held open:

* the published read copy (DuckDB): ``live.heartbeat``, ``live.alert_outbox``, every
  ``<schema>.quarantine`` table;
* the Dagster instance under ``DAGSTER_HOME`` (its SQLite storage, opened read-only with
  ``mode=ro``): ``history/runs.db`` (runs, daemon heartbeats), ``history/runs/index.db``
  (last materialization per asset), ``schedules/schedules.db`` (sensor ticks). The library never
  imports Dagster; when the instance has no such file (another storage, or nothing ran yet) the
  functions return empty frames and :func:`dagster_home` says where it looked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path

import pandas as pd

from primeflow_lib.workbench.readcopy import existing_tables, read_frame

PathLike = str | os.PathLike | None


def dagster_home() -> Path | None:
    """``DAGSTER_HOME`` as a path, or None when it is not set."""
    v = os.environ.get("DAGSTER_HOME")
    return Path(v) if v else None


def _sqlite(rel: str, sql: str, params: tuple = ()) -> pd.DataFrame:
    home = dagster_home()
    if home is None or not (home / rel).is_file():
        return pd.DataFrame()
    con = sqlite3.connect(f"file:{home / rel}?mode=ro", uri=True, timeout=5)
    try:
        return pd.read_sql_query(sql, con, params=params)
    except sqlite3.Error:
        return pd.DataFrame()  # a storage layout this page does not know: shown as "no data"
    finally:
        con.close()


def last_runs(limit: int = 25) -> pd.DataFrame:
    """The newest Dagster runs: ``job, status, started (UTC), seconds, run_id``."""
    df = _sqlite("history/runs.db", "SELECT pipeline_name AS job, status, start_time, end_time, run_id "
                 "FROM runs ORDER BY id DESC LIMIT ?", (int(limit),))
    if df.empty:
        return df
    df["started"] = pd.to_datetime(df["start_time"], unit="s", errors="coerce")
    df["seconds"] = (df["end_time"] - df["start_time"]).round(2)
    return df[["job", "status", "started", "seconds", "run_id"]]


def materializations() -> pd.DataFrame:
    """Last materialization per asset: ``asset, last_materialized (UTC), last_run_id``."""
    df = _sqlite("history/runs/index.db", "SELECT asset_key, last_materialization_timestamp AS last_materialized, "
                 "last_run_id FROM asset_keys WHERE wipe_timestamp IS NULL ORDER BY 1")
    if df.empty:
        return df
    df["asset"] = ["/".join(json.loads(k)) if str(k).startswith("[") else str(k) for k in df["asset_key"]]
    df["last_materialized"] = pd.to_datetime(df["last_materialized"], errors="coerce")
    return df[["asset", "last_materialized", "last_run_id"]].sort_values("last_materialized", ascending=False)


def daemon_heartbeats(now: dt.datetime | None = None) -> pd.DataFrame:
    """Dagster daemons' last heartbeat and its age in seconds."""
    df = _sqlite("history/runs.db", "SELECT daemon_type AS daemon, timestamp FROM daemon_heartbeats ORDER BY 1")
    if df.empty:
        return df
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    df["timestamp"] = pd.to_datetime(df["timestamp"], errors="coerce")
    df["age_seconds"] = (pd.Timestamp(now) - df["timestamp"]).dt.total_seconds().round(1)
    return df


def sensor_lag(now: dt.datetime | None = None) -> pd.DataFrame:
    """Per sensor: status, last tick (UTC), its status and the lag (seconds since the tick)."""
    inst = _sqlite("schedules/schedules.db", "SELECT selector_id, status, instigator_body FROM instigators "
                   "WHERE instigator_type = 'SENSOR'")
    ticks = _sqlite("schedules/schedules.db", "SELECT selector_id, max(timestamp) AS last_tick, count(*) AS ticks "
                    "FROM job_ticks WHERE type = 'SENSOR' GROUP BY 1")
    if inst.empty and ticks.empty:
        return pd.DataFrame()
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def name(body: str, sel: str) -> str:
        try:
            origin = json.loads(body).get("origin", {})
            return str(origin.get("instigator_name") or sel)
        except (ValueError, AttributeError):
            return sel

    inst = inst.assign(sensor=[name(b, s) for b, s in zip(inst["instigator_body"], inst["selector_id"], strict=True)]) \
        if not inst.empty else pd.DataFrame(columns=["selector_id", "status", "sensor"])
    df = inst[["selector_id", "sensor", "status"]].merge(ticks, on="selector_id", how="outer")
    df["sensor"] = df["sensor"].fillna(df["selector_id"])
    df["last_tick"] = pd.to_datetime(df["last_tick"], errors="coerce")
    df["lag_seconds"] = (pd.Timestamp(now) - df["last_tick"]).dt.total_seconds().round(1)
    return df[["sensor", "status", "last_tick", "ticks", "lag_seconds"]]


def heartbeat(path: PathLike = None, limit: int = 10) -> pd.DataFrame:
    """The newest ``live.heartbeat`` rows (one per scored batch); empty when the table is absent."""
    if "live.heartbeat" not in existing_tables(path):
        return pd.DataFrame()
    return read_frame("SELECT ts, source, prints, events, signals, quarantined, lag_seconds, processing_seconds, "
                      "last_error, synthetic FROM live.heartbeat ORDER BY ts DESC LIMIT ?", [int(limit)], path)


def alert_counts(path: PathLike = None, day: dt.date | None = None) -> pd.DataFrame:
    """Alerts enqueued on ``day`` (UTC, default today) by status (pending, sending, sent,
    failed_permanent) and in all."""
    if "live.alert_outbox" not in existing_tables(path):
        return pd.DataFrame()
    day = day or dt.datetime.now(dt.UTC).date()
    return read_frame("SELECT status, count(*) FILTER (WHERE CAST(created_at AS DATE) = ?) AS today, "
                      "count(*) AS all_time FROM live.alert_outbox GROUP BY 1 ORDER BY 1", [day], path)


def quarantine_counts(path: PathLike = None, day: dt.date | None = None) -> pd.DataFrame:
    """Rows quarantined on ``day`` (UTC, default today) per quarantine table and target table."""
    tables = sorted(t for t in existing_tables(path) if t.endswith(".quarantine"))
    if not tables:
        return pd.DataFrame()
    day = day or dt.datetime.now(dt.UTC).date()
    sql = " UNION ALL ".join(
        f"SELECT '{t}' AS quarantine, target_table, count(*) FILTER (WHERE CAST(quarantined_at AS DATE) = ?) "
        f"AS today, count(*) AS all_time FROM {t} GROUP BY 2" for t in tables)  # names from the catalog
    return read_frame(sql + " ORDER BY 1, 2", [day] * len(tables), path)
