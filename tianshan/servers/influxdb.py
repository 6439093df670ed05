"""influxd 1.x (Debian's ``influxdb`` package), started with the config the project writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tianshan.servers.process import ManagedProcess, ServerError, free_port


def influxd_binary() -> str:
    found = shutil.which("influxd") or (
        "/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None
    )
    if found is None:
        raise FileNotFoundError("influxd is not installed (make installs the Debian package)")
    return found


def render_config(*, http_port: int, rpc_port: int, data_dir: Path, auth: bool) -> str:
    return f"""# Written by tianshan.servers.influxdb; regenerated at every start.
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{data_dir}/meta"

[data]
  dir = "{data_dir}/data"
  wal-dir = "{data_dir}/wal"
  # fsync the WAL before answering a write: a 204 means the points are on disk.
  wal-fsync-delay = "0s"
  query-log-enabled = false
  trace-logging-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  write-tracing = false
  max-body-size = 0

[logging]
  level = "warn"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
"""


class InfluxServer:
    """A private influxd: its own ports, data and log in ``data_dir``.

    With ``auth``, an admin user is created on first start (InfluxDB 1.x lets the
    first user be created without credentials) and every request must authenticate.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        auth: bool = False,
        username: str = "tianshan",
        password: str = "tianshan-test-password",  # noqa: S107 (throw-away local servers)
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.rpc_port = free_port()
        self.auth = auth
        self.username = username
        self.password = password
        self.config_path = data_dir / "influxdb.conf"
        self.process = ManagedProcess(
            "influxd",
            [influxd_binary(), "-config", str(self.config_path)],
            log_path=data_dir / "influxd.log",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ping(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=1.0).status_code == 204
        except httpx.HTTPError:
            return False

    def start(self, *, timeout: float = 30.0) -> InfluxServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_config(
                http_port=self.port, rpc_port=self.rpc_port, data_dir=self.data_dir, auth=self.auth
            )
        )
        self.process.start()
        self.process.wait_ready(self._ping, timeout=timeout)
        if self.auth:
            self._ensure_admin()
        return self

    def _ensure_admin(self) -> None:
        creds = {"u": self.username, "p": self.password}
        probe = httpx.post(f"{self.url}/query", params={"q": "SHOW DATABASES", **creds}, timeout=5)
        if probe.status_code == 200:
            return
        pw = self.password.replace("'", "")
        create = httpx.post(
            f"{self.url}/query",
            params={
                "q": f"CREATE USER \"{self.username}\" WITH PASSWORD '{pw}' WITH ALL PRIVILEGES"
            },
            timeout=5,
        )
        if create.status_code != 200 or "error" in create.text:
            raise ServerError(f"cannot create the InfluxDB admin user: {create.text}")

    def query(self, q: str, *, database: str | None = None) -> dict[str, object]:
        """Run InfluxQL directly (tests and benchmarks look behind the API with this)."""
        params = {"q": q, "epoch": "u"}
        if database:
            params["db"] = database
        if self.auth:
            params |= {"u": self.username, "p": self.password}
        response = httpx.post(f"{self.url}/query", params=params, timeout=30)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()
