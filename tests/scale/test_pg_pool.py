"""Pooled PostgreSQL connections for the Dagster instance (primeflow_pipelines.pg_pool). These
tests fail when dagster-postgres renames or moves what the patch relies on."""

import importlib
import inspect

import pytest
from sqlalchemy import pool as sa_pool

from primeflow_pipelines import pg_pool

URL = "postgresql+psycopg2://u:p@127.0.0.1:1/db"  # never connected to: engines connect lazily


def test_dagster_postgres_still_creates_nullpool_engines_through_create_pg_engine():
    for name in pg_pool.STORAGE_MODULES:
        mod = importlib.import_module(name)
        assert callable(mod.create_pg_engine), name
        assert "poolclass=db_pool.NullPool" in inspect.getsource(mod), name


@pytest.fixture
def patched(monkeypatch):
    for name in pg_pool.STORAGE_MODULES:
        mod = importlib.import_module(name)
        monkeypatch.setattr(mod, "create_pg_engine", mod.create_pg_engine)
    monkeypatch.setattr(pg_pool, "_APPLIED", False)
    monkeypatch.delenv(pg_pool.POOL_ENV, raising=False)
    assert pg_pool.pool_instance_connections()
    return [importlib.import_module(n) for n in pg_pool.STORAGE_MODULES]


def test_storage_engines_become_pooled(patched):
    for mod in patched:
        engine = mod.create_pg_engine(URL, None, isolation_level="AUTOCOMMIT", poolclass=sa_pool.NullPool)
        assert isinstance(engine.pool, sa_pool.QueuePool), mod.__name__
        assert engine.pool.size() == pg_pool.POOL_SIZE
        assert engine.pool._pre_ping
        # engines that ask for a pool of their own (the webserver's) are left as asked
        own = mod.create_pg_engine(URL, None, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=3)
        assert own.pool.size() == 1


def test_pool_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(pg_pool.POOL_ENV, "0")
    monkeypatch.setattr(pg_pool, "_APPLIED", False)
    assert pg_pool.pool_instance_connections() is False
