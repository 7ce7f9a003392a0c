"""A throw-away PostgreSQL cluster for the tests: Debian's server binaries, run as the
``postgres`` user when the tests run as root (the server refuses root), in a temporary
folder, listening on 127.0.0.1 (a free port) and on a socket in that folder; stopped and
deleted afterwards.

``SESSION_IMPORT_TEST_PG`` (a URL of an existing server whose role may create databases)
is used instead when set. ``SESSION_IMPORT_REQUIRE_PG=1`` (CI) makes the PostgreSQL tests
fail, not skip, when no server can be had (conftest.py's fixtures).

Run as a script, it starts a cluster, prints its URL and keeps it until interrupted.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROLE = "importer"


class NoServer(RuntimeError):
    """No PostgreSQL server could be started or reached."""


def required() -> bool:
    return os.environ.get("SESSION_IMPORT_REQUIRE_PG", "") not in ("", "0")


def _bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise NoServer("no PostgreSQL server binaries (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """One cluster, its superuser reached through the socket (trust), the ``importer``
    role through 127.0.0.1 with a password (scram-sha-256), as a deployment would."""

    def __init__(self, durable: bool = False) -> None:
        """``durable``: fsync and synchronous commits on, as PostgreSQL ships (the tests
        turn them off: a throw-away cluster need not survive a power cut)."""
        self.durable = durable
        self.bindir = _bindir()
        self.as_user = None
        if os.geteuid() == 0:
            try:
                self.as_user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise NoServer("running as root and there is no postgres user") from exc
        self.root = Path(tempfile.mkdtemp(prefix="session-import-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password = secrets.token_urlsafe(12)
        self._databases = 0
        if self.as_user:
            os.chown(self.root, self.as_user.pw_uid, self.as_user.pw_gid)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        user = {}
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        if self.as_user:
            user = {"user": self.as_user.pw_uid, "group": self.as_user.pw_gid, "extra_groups": []}
            env["HOME"] = str(self.root)
        return subprocess.run(
            argv,
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=check,
            stdin=subprocess.DEVNULL,
            **user,
        )

    def start(self) -> Cluster:
        pwfile = self.root / "pw"
        pwfile.write_text("postgres\n")
        if self.as_user:
            os.chown(pwfile, self.as_user.pw_uid, self.as_user.pw_gid)
        try:
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                f"--pwfile={pwfile}",
                "--no-sync",
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port}"
                f" -c unix_socket_directories={self.root}"
                " -c max_connections=200 -c log_min_messages=warning"
            )
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            log = self.root / "server.log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            self.stop()
            raise NoServer(f"{' '.join(exc.cmd[:1])} failed: {exc.stderr}{detail}") from exc
        self.psql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'")
        return self

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ).stdout

    def url(self, database: str = "postgres", password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://{ROLE}{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database owned by the importer role; its URL (with the password)."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        self.psql(f"CREATE DATABASE {name} OWNER {ROLE} TEMPLATE template0")
        return self.url(name)

    def dump(self, url: str) -> bytes:
        """A plain pg_dump of a database: everything it holds."""
        return _dump(self.bindir / "pg_dump", url)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "-w",
                "stop",
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


class ExistingServer:
    """A server given by SESSION_IMPORT_TEST_PG: each test gets a new database on it."""

    def __init__(self, url: str) -> None:
        self.base = url
        self._databases = 0
        self._created: list[str] = []

    def start(self) -> ExistingServer:
        import psycopg

        try:
            psycopg.connect(self.base, autocommit=True).close()
        except psycopg.Error as exc:
            raise NoServer(f"SESSION_IMPORT_TEST_PG cannot be reached: {exc}") from exc
        return self

    def new_database(self) -> str:
        import psycopg

        self._databases += 1
        name = f"si_test_{os.getpid()}_{self._databases}_{secrets.token_hex(3)}"
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self._created.append(name)
        parts = urlsplit(self.base)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def dump(self, url: str) -> bytes:
        return _dump(Path(shutil.which("pg_dump") or "pg_dump"), url)

    def stop(self) -> None:
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _dump(pg_dump: Path, url: str) -> bytes:
    parts = urlsplit(url)
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    plain = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
    user = ["-U", parts.username] if parts.username else []
    return subprocess.run(
        [str(pg_dump), *user, "--format=plain", plain], env=env, capture_output=True, check=True
    ).stdout


def server() -> Cluster | ExistingServer:
    """Started; NoServer says why there is none."""
    existing = os.environ.get("SESSION_IMPORT_TEST_PG")
    if existing:
        return ExistingServer(existing).start()
    return Cluster().start()


def _serve() -> None:
    cluster = Cluster().start()
    print(cluster.new_database(), flush=True)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        signal.sigwait(stop_signals)
    finally:
        cluster.stop()


if __name__ == "__main__":
    _serve()
    sys.exit(0)
