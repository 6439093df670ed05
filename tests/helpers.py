"""Shared test helpers: settings for subprocesses, InfluxDB look-ups, expected readings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, SecretStr
from sqlalchemy.orm import Session, sessionmaker

from cloud.config import CloudSettings, load_settings
from edge.sim import FIELDS, reading_value
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.process import free_port
from wire import Channel, DeviceConfig, encode
from wire.topics import device_topic

T = TypeVar("T")


def settings_env(settings: CloudSettings) -> dict[str, str]:
    """The same settings as TIANSHAN_CLOUD__* variables, for a subprocess."""
    env: dict[str, str] = {}

    def walk(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}__{name.upper()}"
            if isinstance(value, BaseModel):
                walk(key, value)
            elif value is None:
                continue
            elif isinstance(value, SecretStr):
                env[key] = value.get_secret_value()
            else:
                env[key] = str(value)

    walk("TIANSHAN_CLOUD", settings)
    return env


def influx_scalar(influx: InfluxServer, database: str, query: str) -> Any:
    """The first value of the first row of the first series, or None."""
    result = influx.query(query, database=database)
    series = result["results"][0].get("series")  # type: ignore[index]
    if not series:
        return None
    return series[0]["values"][0][1]


def influx_points(influx: InfluxServer, database: str, query: str) -> list[list[Any]]:
    result = influx.query(query, database=database)
    rows: list[list[Any]] = []
    for series in result["results"][0].get("series", []):  # type: ignore[index]
        rows.extend(series["values"])
    return rows


def count_readings(influx: InfluxServer, database: str, device: str | None = None) -> int:
    """Points in ``telemetry`` summed over the simulator's fields."""
    where = f" WHERE \"device\" = '{device}'" if device else ""
    total = 0
    for field in FIELDS:
        value = influx_scalar(influx, database, f'SELECT count("{field}") FROM telemetry{where}')
        total += int(value or 0)
    return total


def load_summary(path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(path.read_text())
    return summary


def expected_readings(
    device_index: int, *, t0_us: int, period_us: int, count: int
) -> Iterator[tuple[int, str, float]]:
    """What simulated device ``device_index`` must have sent: (ts_us, field, value)."""
    for i in range(count):
        yield t0_us + i * period_us, FIELDS[i % len(FIELDS)], reading_value(device_index, i)


def look(sessions: sessionmaker[Session], query: Callable[[Session], T]) -> T:
    """Run ``query`` in a fresh read transaction (a transaction kept open across polls
    would keep seeing the snapshot it started with)."""
    with sessions() as session:
        return query(session)


def publish_config(port: int, config: DeviceConfig) -> None:
    """Put ``config`` on the device's retained config topic, as the cloud does."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(
        device_topic(config.device_id, Channel.CONFIG), encode(config), qos=1, retain=True
    ).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


SITE_MAP = Path(__file__).resolve().parents[1] / "docs" / "sitemap.example.toml"


def settings_for_test(tmp_path: Path, influx: InfluxServer, **sections: Any) -> CloudSettings:
    """The cloud's settings for a test: a free HTTP port, ``influx`` (with its
    credentials), SQLite in ``tmp_path``, a quick ingest, the example site map; and
    ``sections`` (at least ``broker``), which the fixtures of open and secure stacks differ in."""
    return load_settings(
        None,
        environment="test",
        http={"port": free_port()},
        influx={
            "url": influx.url,
            "database": "tianshan_test",
            "username": influx.username,
            "password": influx.password,
        },
        sql={"url": f"sqlite:///{tmp_path}/cloud.sqlite"},
        ingest={"worker_name": "test-1", "batch_max_delay_s": 0.05, "retry_max_s": 2.0},
        site_map=SITE_MAP,
        **sections,
    )
