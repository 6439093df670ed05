"""A throw-away PostgreSQL server: ``initdb`` into a folder, ``postgres`` on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tianshan.servers.process import ManagedProcess, ServerError, free_port, port_open


def postgres_bin_dir() -> Path:
    """Where ``initdb`` and ``postgres`` live (PATH first, then Debian's layout)."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    raise FileNotFoundError("PostgreSQL server binaries not found (make installs postgresql)")


def _run_as() -> str | None:
    """initdb and postgres refuse to run as root; use the postgres account then."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise ServerError("running as root and no 'postgres' or 'nobody' account to run PostgreSQL as")


class PostgresServer:
    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.user = _run_as()
        self.bin = postgres_bin_dir()
        # Run as another account, the cluster must sit where that account can reach it;
        # a private temp folder (often mode 0700, owned by root) is not such a place.
        self._own_tmp = Path(tempfile.mkdtemp(prefix="tianshan-pg-")) if self.user else None
        base = self._own_tmp or data_dir
        self.cluster = base / "cluster"
        self.socket_dir = base / "sock"
        self.process = ManagedProcess(
            "postgres",
            [
                str(self.bin / "postgres"),
                "-D",
                str(self.cluster),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.socket_dir),
                "-c",
                "fsync=on",
                "-c",
                "max_connections=50",
            ],
            log_path=data_dir / "postgres.log",
            user=self.user,
        )

    def _chown(self, path: Path) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self, *, timeout: float = 60.0) -> PostgresServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self._own_tmp or self.data_dir, self.socket_dir):
            self._chown(path)
        if not (self.cluster / "PG_VERSION").exists():
            result = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.cluster),
                    "-U",
                    "tianshan",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                capture_output=True,
                text=True,
                user=self.user,
                check=False,
            )
            if result.returncode != 0:
                raise ServerError(f"initdb failed: {result.stderr or result.stdout}")
        self.process.start()
        self.process.wait_ready(self._accepting, timeout=timeout)
        return self

    def _accepting(self) -> bool:
        """The port opens before the server takes connections; pg_isready knows."""
        if not port_open(self.port):
            return False
        result = subprocess.run(
            [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
        )
        return result.returncode == 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://tianshan@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create ``name`` and return its SQLAlchemy URL."""
        psql = self.bin / "psql"
        result = subprocess.run(
            [
                str(psql),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "tianshan",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"cannot create database {name}: {result.stderr}")
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast shutdown".
        self.process.stop(sig=signal.SIGINT)
        if self._own_tmp is not None:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
