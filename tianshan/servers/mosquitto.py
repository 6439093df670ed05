"""Mosquitto, started with the config the project writes."""

from __future__ import annotations

import getpass
import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cloud.dynsec.control import admin_session
from cloud.dynsec.policy import ensure_policy, seed_config
from tianshan.servers.process import ManagedProcess, ServerError, free_port, port_open

# The broker settings Tianshan relies on. docker/mosquitto/mosquitto.conf carries the
# same lines (a test keeps the two in step).
BROKER_SETTINGS: dict[str, str] = {
    # Alarm latency: do not let Nagle hold small packets back.
    "set_tcp_nodelay": "true",
    # Sessions and queued messages survive a broker restart.
    "persistence": "true",
    "autosave_interval": "60",
    # The ingest acknowledges after the database write; while the database is down,
    # the broker queues for it. The default (1,000) would silently drop QoS 1 messages.
    "max_queued_messages": "2000000",
    "max_queued_bytes": "0",
    # Each client's MQTT v5 Receive Maximum bounds what is in flight to it.
    "max_inflight_messages": "0",
    # Above the contract's 256 KiB so that a moderately oversize message reaches the
    # ingest and is kept for inspection; larger packets are refused at the door.
    "max_packet_size": "1048576",
}


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        raise FileNotFoundError("mosquitto is not installed (make installs the Debian package)")
    return found


@dataclass(frozen=True)
class DynsecSetup:
    """Secure mode: the dynamic security plugin, no anonymous access. The admin account
    is the cloud's (it also publishes configs); the ingest account is created at start."""

    admin_username: str
    admin_password: str
    ingest_username: str | None = None
    ingest_password: str | None = None


@dataclass(frozen=True)
class TlsListener:
    """A second listener that speaks only TLS (optionally demanding client certificates)."""

    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


def dynsec_plugin() -> str:
    found = sorted(glob.glob("/usr/lib/*/mosquitto_dynamic_security.so")) + sorted(
        glob.glob("/usr/lib/mosquitto_dynamic_security.so")
    )
    if not found:
        raise FileNotFoundError(
            "mosquitto_dynamic_security.so not found (it ships with Debian's mosquitto)"
        )
    return found[0]


def render_config(
    *,
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    extra: str = "",
    dynsec_file: Path | None = None,
    tls: TlsListener | None = None,
) -> str:
    lines = [
        "# Written by tianshan.servers.mosquitto; regenerated at every start.",
        "per_listener_settings false",
        # With the plugin every client logs in (per_listener_settings false: on all listeners).
        f"allow_anonymous {'false' if dynsec_file else 'true'}",
        f"persistence_location {data_dir}/",
        "persistence_file mosquitto.db",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    lines += [f"{key} {value}" for key, value in BROKER_SETTINGS.items()]
    # As root mosquitto would switch to the "mosquitto" user and then fail, silently,
    # to write its persistence file into our folder; keep it as whoever runs it.
    if os.geteuid() == 0:
        lines.append("user root")
    else:
        lines.append(f"user {getpass.getuser()}")
    if dynsec_file is not None:
        lines += [f"plugin {dynsec_plugin()}", f"plugin_opt_config_file {dynsec_file}"]
    lines += [f"listener {port} {host}", "protocol mqtt"]
    if tls is not None:
        lines += [
            f"listener {tls.port} {host}",
            "protocol mqtt",
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


class MosquittoServer:
    """A private broker: its own port, config, persistence and log in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        extra_config: str = "",
        dynsec: DynsecSetup | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_config = extra_config
        self.dynsec = dynsec
        self.tls = tls
        self.config_path = data_dir / "mosquitto.conf"
        self.dynsec_path = data_dir / "dynamic-security.json"
        self.process = ManagedProcess(
            "mosquitto",
            [mosquitto_binary(), "-c", str(self.config_path)],
            log_path=data_dir / "mosquitto.log",
        )

    def start(self, *, timeout: float = 15.0) -> MosquittoServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.dynsec is not None and not self.dynsec_path.exists():
            self._init_dynsec(self.dynsec)
        self.config_path.write_text(
            render_config(
                port=self.port,
                data_dir=self.data_dir,
                host=self.host,
                extra=self.extra_config,
                dynsec_file=self.dynsec_path if self.dynsec else None,
                tls=self.tls,
            )
        )
        self.process.start()
        self.process.wait_ready(lambda: port_open(self.port, self.host), timeout=timeout)
        tls = self.tls
        if tls is not None:
            self.process.wait_ready(lambda: port_open(tls.port, self.host), timeout=timeout)
        if self.dynsec is not None:
            self._apply_policy(self.dynsec, timeout=timeout)
        return self

    def _init_dynsec(self, setup: DynsecSetup) -> None:
        """The plugin's own tool writes the file with the admin's password hashed; the
        password goes in on standard input, never on a command line or in a log."""
        done = subprocess.run(
            ["mosquitto_ctrl", "dynsec", "init", str(self.dynsec_path), setup.admin_username],
            input=f"{setup.admin_password}\n{setup.admin_password}\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not self.dynsec_path.exists():
            raise ServerError(f"mosquitto_ctrl dynsec init failed: {done.stderr.strip()[:300]}")
        seeded = seed_config(
            json.loads(self.dynsec_path.read_text()), admin_username=setup.admin_username
        )
        self.dynsec_path.write_text(json.dumps(seeded, indent=1))
        self.dynsec_path.chmod(0o600)

    def _apply_policy(self, setup: DynsecSetup, *, timeout: float) -> None:
        """Roles and the ingest account, at run time over ``$CONTROL`` (idempotent)."""
        with admin_session(
            self.host,
            self.port,
            username=setup.admin_username,
            password=setup.admin_password,
            timeout_s=timeout,
        ) as control:
            ensure_policy(
                control,
                ingest_username=setup.ingest_username,
                ingest_password=setup.ingest_password,
            )

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()
