"""Bad scale settings are clear errors naming the setting (a real PostgreSQL server with
password authentication on 127.0.0.1); the instance never falls back to SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("dagster_postgres", reason="the scale extra is not installed (uv sync --extra scale)")

from click.testing import CliRunner  # noqa: E402

from primeflow_lib.scale import preflight  # noqa: E402
from primeflow_lib.scale.local_services import LocalPostgres, free_port  # noqa: E402
from primeflow_pipelines.commands import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.xdist_group("scale_daemon")
def test_postgres_settings_wrong_password_unreachable_and_the_instance(tmp_path, monkeypatch):
    import dagster as dg

    with LocalPostgres(tmp_path / "pg") as pg:
        for k, v in pg.env.items():
            monkeypatch.setenv(k, v)
        assert preflight.check_postgres() == f"127.0.0.1:{pg.port}/dagster"
        res = CliRunner().invoke(main, ["scale", "check"])
        assert res.exit_code == 0, res.output
        assert "postgres  ok" in res.output
        # the scale instance really is PostgreSQL
        home = Path(str(tmp_path / "home"))
        home.mkdir()
        shutil.copy(REPO / "deploy" / "scale" / "dagster.yaml", home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        inst = dg.DagsterInstance.get()
        assert type(inst.run_storage).__name__ == "PostgresRunStorage"
        inst.dispose()

        monkeypatch.setenv("PRIMEFLOW_PG_PASSWORD", "wrong")
        with pytest.raises(preflight.ScaleSettingError,
                           match=f"PRIMEFLOW_PG_HOST=127.0.0.1 PRIMEFLOW_PG_PORT={pg.port}: PostgreSQL refused user "
                                 "PRIMEFLOW_PG_USER=primeflow: wrong PRIMEFLOW_PG_PASSWORD"):
            preflight.check_postgres()
        res = CliRunner().invoke(main, ["scale", "check"])
        assert res.exit_code == 1 and "wrong PRIMEFLOW_PG_PASSWORD" in res.output
        assert "wrong" not in res.output.replace("wrong PRIMEFLOW_PG_PASSWORD", "")  # the password is never shown
        # the instance fails too (Dagster logs the reason and gives up); it does not quietly use SQLite
        with pytest.raises(Exception, match="too many retries for DB connection"):  # reason in its log
            dg.DagsterInstance.get().get_runs()
        assert not list(home.rglob("*.db"))

    monkeypatch.setenv("PRIMEFLOW_PG_PORT", str(free_port()))
    with pytest.raises(preflight.ScaleSettingError, match="PRIMEFLOW_PG_PORT=.*: PostgreSQL does not answer"):
        preflight.check_postgres()
    monkeypatch.delenv("PRIMEFLOW_PG_HOST")
    with pytest.raises(preflight.ScaleSettingError, match="not set: PRIMEFLOW_PG_HOST"):
        preflight.check_postgres()
