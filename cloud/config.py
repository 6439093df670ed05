"""Typed settings of the cloud service and the ingest worker.

Environment variables use the prefix ``TIANSHAN_CLOUD__`` and ``__`` between levels
(``TIANSHAN_CLOUD__INFLUX__URL=http://influx:8086``); ``--config FILE`` adds a TOML
file underneath them.
"""

from __future__ import annotations

import socket
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# Secrets that ship in examples and the demo; refused outside the demo and tests.
KNOWN_DEFAULT_SECRETS = frozenset({"changeme", "tianshan", "tianshan-demo", "password", "admin"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class BrokerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(default=None, description="Set to connect with TLS")
    keepalive_s: int = Field(default=30, ge=5)


class InfluxConfig(_Section):
    """InfluxDB through its 1.x-compatible API (/write, /query): 1.x with user and
    password, 2.x and 3.x with a token (the database is the bucket's DBRP name)."""

    url: str = "http://127.0.0.1:8086"
    database: str = Field(default="tianshan", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    create_database: bool = Field(
        default=True, description="CREATE DATABASE at start (1.x; harmless elsewhere)"
    )


class SqlConfig(_Section):
    url: str = Field(
        default="sqlite:///var/cloud/tianshan.sqlite",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )


class IngestConfig(_Section):
    worker_name: str = Field(
        default_factory=socket.gethostname,
        pattern=r"^[A-Za-z0-9_.\-]{1,48}$",
        description="Stable per worker: the broker keeps its session under this name",
    )
    share_group: str = Field(default="ingest", pattern=r"^[A-Za-z0-9_\-]{1,32}$")
    receive_maximum: int = Field(
        default=20000, ge=1, le=65535, description="Unacknowledged messages in flight to us"
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="How long the broker queues for a dead worker"
    )
    batch_max_lines: int = Field(default=5000, ge=1)
    batch_max_delay_s: float = Field(default=0.1, gt=0)
    retry_min_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    keep_payload_bytes: int = Field(
        default=64 * 1024, ge=0, description="Bytes of a rejected payload kept for inspection"
    )
    metrics_port: int | None = Field(default=None, ge=1, le=65535)


class AlertsConfig(_Section):
    escalate_after_s: float = Field(
        default=60.0, gt=0, description="a fire alarm nobody acknowledged escalates after this"
    )
    missed_heartbeats: int = Field(
        default=3, ge=1, description="a box this many heartbeats late raises a supervision alert"
    )
    check_every_s: float = Field(default=1.0, gt=0, description="escalation and supervision")
    notify_max_attempts: int = Field(default=8, ge=1)


class DynsecConfig(_Section):
    """The broker runs Mosquitto's dynamic security plugin: the API logs in as its admin
    (to create, change and disable device accounts, and to publish configs)."""

    admin_username: str = "tianshan-admin"
    admin_password: SecretStr


class ProvisioningConfig(_Section):
    """What a claimed box is told, and how long a claim token lives."""

    claim_ttl_h: float = Field(default=24.0, gt=0, le=24 * 30)
    device_broker_host: str | None = Field(
        default=None, description="the broker as boxes reach it (default: broker.host)"
    )
    device_broker_port: int | None = Field(
        default=None, ge=1, le=65535, description="default: broker.port"
    )
    device_ca_file: Path | None = Field(
        default=None, description="CA certificate handed to boxes; set when boxes use TLS"
    )


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIANSHAN_CLOUD__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    environment: Literal["production", "demo", "test"] = "production"
    timezone: str = Field(default="Asia/Shanghai", description="for hours of the day on pages")
    http: HttpConfig = HttpConfig()
    broker: BrokerConfig = BrokerConfig()
    influx: InfluxConfig = InfluxConfig()
    sql: SqlConfig = SqlConfig()
    ingest: IngestConfig = IngestConfig()
    alerts: AlertsConfig = AlertsConfig()
    dynsec: DynsecConfig | None = Field(
        default=None, description="set when the broker runs the dynamic security plugin"
    )
    provisioning: ProvisioningConfig = ProvisioningConfig()
    site_map: Path | None = Field(default=None, description="TOML: buildings, zones, stations…")

    @model_validator(mode="after")
    def _known_timezone(self) -> CloudSettings:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {self.timezone!r} (e.g. Asia/Shanghai)") from None
        return self

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> CloudSettings:
        if self.environment != "production":
            return self
        secrets = {
            "broker.password": self.broker.password,
            "influx.password": self.influx.password,
            "influx.token": self.influx.token,
            "dynsec.admin_password": self.dynsec.admin_password if self.dynsec else None,
        }
        weak = [
            k for k, v in secrets.items() if v and v.get_secret_value() in KNOWN_DEFAULT_SECRETS
        ]
        if weak:
            raise ValueError(
                f"{', '.join(weak)} is a well-known default; set a real secret"
                " (or environment=demo for a local demo)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, _FILE_DATA.get() or {}),
        )


_FILE_DATA: ContextVar[dict[str, object] | None] = ContextVar("cloud_config_file", default=None)


class ConfigFileError(ValueError):
    """The settings file cannot be read or parsed."""


def load_settings(path: Path | None = None, **overrides: object) -> CloudSettings:
    data: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigFileError(f"cannot read settings file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"settings file {path} is not valid TOML: {exc}") from None
    token = _FILE_DATA.set(data)
    try:
        return CloudSettings(**overrides)  # type: ignore[arg-type]
    finally:
        _FILE_DATA.reset(token)
