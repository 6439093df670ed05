"""Mosquitto, started with the config the project writes."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path

from tianshan.servers.process import ManagedProcess, free_port, port_open

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


def render_config(
    *,
    port: int,
    data_dir: Path,
    host: str = "127.0.0.1",
    extra: str = "",
) -> str:
    lines = [
        "# Written by tianshan.servers.mosquitto; regenerated at every start.",
        "per_listener_settings false",
        "allow_anonymous true",
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
    lines += [f"listener {port} {host}", "protocol mqtt"]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


class MosquittoServer:
    """A private broker: its own port, config, persistence and log in ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_config = extra_config
        self.config_path = data_dir / "mosquitto.conf"
        self.process = ManagedProcess(
            "mosquitto",
            [mosquitto_binary(), "-c", str(self.config_path)],
            log_path=data_dir / "mosquitto.log",
        )

    def start(self, *, timeout: float = 15.0) -> MosquittoServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_config(
                port=self.port, data_dir=self.data_dir, host=self.host, extra=self.extra_config
            )
        )
        self.process.start()
        self.process.wait_ready(lambda: port_open(self.port, self.host), timeout=timeout)
        return self

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence file on the way out."""
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()
