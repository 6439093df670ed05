"""Typed configuration of the edge agent: a TOML file, overridden by the environment.

Environment variables use the prefix ``TIANSHAN_EDGE__`` and ``__`` between levels,
e.g. ``TIANSHAN_EDGE__MQTT__HOST=broker.local`` or ``TIANSHAN_EDGE__DEVICE__ID=box-7``.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from edge.fire.detector_state import DetectorRules
from wire import MAX_READINGS_PER_MESSAGE
from wire.topics import DEVICE_ID_PATTERN


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityConfig(_Section):
    id: Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
    kind: Literal["generic", "checkout", "fire", "parking", "sim"] = "generic"
    site: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")] = "default"


class TlsConfig(_Section):
    """TLS to the broker. With no ``ca_file`` the system trust store is used."""

    ca_file: Path | None = None
    cert_file: Path | None = Field(default=None, description="Client certificate (mutual TLS)")
    key_file: Path | None = None

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsConfig | None = Field(default=None, description="Set to use TLS")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    publish_window: int = Field(
        default=200, ge=1, le=10000, description="QoS 1 messages in flight at once"
    )

    @model_validator(mode="after")
    def _delays_ordered(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s")
        return self


class OutboxConfig(_Section):
    path: Path = Path("var/edge/outbox.sqlite")
    quota_mb: float = Field(
        default=256.0,
        gt=0,
        description="Beyond this, the oldest telemetry is dropped (alarms and transactions never)",
    )

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_mb * 1024 * 1024)


class TelemetryConfig(_Section):
    max_readings: int = Field(default=500, ge=1, le=MAX_READINGS_PER_MESSAGE)
    max_age_s: float = Field(default=1.0, gt=0, le=3600)


class HeartbeatConfig(_Section):
    interval_s: float = Field(default=30.0, gt=0, le=3600)


class WatcherConfig(_Section):
    """When a tray counts as arrived and at rest (see edge.checkout.watcher)."""

    width: int = Field(default=96, ge=16, description="analysis width in pixels")
    pixel_threshold: int = Field(default=28, ge=1, le=255, description="grey levels")
    present_above: float = Field(default=0.12, gt=0, lt=1, description="share of the slot")
    empty_below: float = Field(default=0.04, gt=0, lt=1)
    still_below: float = Field(default=0.01, gt=0, lt=1, description="share moving")
    still_frames: int = Field(default=3, ge=1)
    empty_frames: int = Field(default=3, ge=1)
    background_rate: float = Field(default=0.05, ge=0, le=1, description="while empty")


class CheckoutConfig(_Section):
    """The self-checkout pipeline; present only on checkout boxes."""

    source: str = Field(default="camera:0", description="camera:N, camera:URL or folder:PATH")
    fps: float = Field(default=10.0, ge=0, description="folder replay rate; 0 = as fast as read")
    loop: bool = Field(default=False, description="folder: start again when it ends (demo)")
    model_path: Path | None = Field(default=None, description="default: the committed model")
    prices_file: Path | None = Field(
        default=None, description="price table until the cloud pushes one"
    )
    kiosk_host: str = "127.0.0.1"
    kiosk_port: int = Field(default=8080, ge=0, le=65535, description="0: no kiosk page")
    staff_pin: SecretStr | None = Field(
        default=None,
        description="4 to 12 digits staff type at the kiosk to correct a bill or settle a menu "
        "order; without it anyone at the screen can (better set by TIANSHAN_EDGE__CHECKOUT__"
        "STAFF_PIN than in the file)",
    )
    keep_frames_days: float = Field(
        default=30.0,
        ge=1,
        le=3650,
        description="billed trays' frames (state_dir/checkout/frames, about 70 MB a day at "
        "800 trays) are deleted after this many days; frames staff corrected are kept apart, "
        "in checkout/labelled",
    )
    watcher: WatcherConfig = WatcherConfig()

    def pin(self) -> str | None:
        """The staff PIN in clear, or None when the kiosk has none."""
        return self.staff_pin.get_secret_value() if self.staff_pin is not None else None

    @model_validator(mode="after")
    def _pin_is_digits(self) -> CheckoutConfig:
        pin = self.pin()
        if pin is not None and not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
            raise ValueError("checkout.staff_pin must be 4 to 12 digits")
        return self


Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]


class ModbusLinkConfig(_Section):
    """One Modbus line: TCP (a gateway or networked detectors) or RTU (RS-485)."""

    name: Ident
    kind: Literal["tcp", "rtu"]
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = Field(default=None, description="RTU: /dev/ttyUSB0")
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    poll_interval_s: float = Field(default=2.0, gt=0)
    timeout_s: float = Field(default=0.5, gt=0)

    @model_validator(mode="after")
    def _rtu_needs_a_port(self) -> ModbusLinkConfig:
        if self.kind == "rtu" and not self.serial_port:
            raise ValueError(f"modbus link {self.name}: an RTU link needs serial_port")
        return self


class DetectorConfig(_Section):
    id: Ident
    zone: Ident
    link: Ident
    unit: int = Field(ge=1, le=247, description="Modbus unit (slave) id")
    label: str = ""
    rules: DetectorRules | None = Field(default=None, description="overrides the defaults")


class ZoneConfig(_Section):
    id: Ident
    verify_s: float | None = Field(
        default=None, gt=0, le=60, description="smoke alarm verification window"
    )
    needed: int = Field(default=2, ge=1, le=10, description="detectors in alarm to confirm")


class PanelConfig(_Section):
    """The fire alarm panel's printer port."""

    url: str = Field(description="serial port or pyserial URL, e.g. /dev/ttyS0")
    baudrate: int = 9600
    encoding: str | None = Field(default=None, description="e.g. gb18030; default: detect")
    zones: dict[str, Ident] = Field(
        default_factory=dict, description="panel zone number → our zone id"
    )


class FireConfig(_Section):
    links: list[ModbusLinkConfig] = Field(default_factory=list)
    detectors: list[DetectorConfig] = Field(default_factory=list)
    zones: list[ZoneConfig] = Field(default_factory=list)
    panel: PanelConfig | None = None
    defaults: DetectorRules = DetectorRules()

    @model_validator(mode="after")
    def _links_exist(self) -> FireConfig:
        links = {link.name for link in self.links}
        for d in self.detectors:
            if d.link not in links:
                raise ValueError(f"detector {d.id}: no modbus link named {d.link!r}")
        ids = [d.id for d in self.detectors]
        if len(ids) != len(set(ids)):
            raise ValueError("detector ids must be unique")
        return self


class ParkingSourceConfig(_Section):
    """Where advertisements come from: a recorded capture replayed, or the BlueZ radio."""

    kind: Literal["replay", "bleak"] = "replay"
    path: Path | None = Field(default=None, description="replay: the capture file")
    speed: float = Field(
        default=1.0,
        ge=0,
        description="replay: capture seconds per real second; 0 = as fast as read",
    )
    start_at: datetime | None = Field(
        default=None,
        description="replay: wall time of the capture's t = 0; default: when it starts",
    )
    adapter: str | None = Field(default=None, description="bleak: hci0…; default: BlueZ's")
    silence_restart_s: float = Field(
        default=30.0, gt=0, description="bleak: restart the scanner after this long unheard"
    )

    @model_validator(mode="after")
    def _replay_needs_a_file(self) -> ParkingSourceConfig:
        if self.kind == "replay" and self.path is None:
            raise ValueError("parking.source: a replay source needs path")
        return self


class StudRules(_Section):
    """How a stud and the bikes over it are judged (see edge.parking.stud_state)."""

    away_timeout_s: float = Field(default=60.0, gt=0, description="unheard this long: offline")
    low_battery_mv: int = Field(default=2500, ge=0, description="below this: low battery")
    battery_hysteresis_mv: int = Field(default=50, ge=0, description="ok again above low + this")
    rssi_smoothing: float = Field(default=0.2, gt=0, le=1, description="EMA weight of a new RSSI")
    bike_field_ut: float = Field(default=12.0, gt=0, description="field shift of one bike, µT")
    park_s: float = Field(default=15.0, ge=0, description="a bike over a stud this long is parked")
    leave_s: float = Field(default=10.0, ge=0, description="gone this long: the bike left")


class ParkingBayConfig(_Section):
    id: int = Field(ge=1, le=0xFFFF)
    name: str = Field(default="", max_length=100)
    capacity: int = Field(ge=0, le=10000)
    studs: list[int] = Field(
        default_factory=list,
        description="its studs (override the frames' bay; expected from start)",
    )


class NoParkingZoneConfig(_Section):
    id: int = Field(ge=1, le=0xFFFF)
    name: str = Field(default="", max_length=100)
    studs: list[int] = Field(default_factory=list)


class ParkingConfig(_Section):
    """The parking pipeline: Bluetooth studs of bays and no-parking zones."""

    source: ParkingSourceConfig
    studs: StudRules = StudRules()
    bays: list[ParkingBayConfig] = Field(default_factory=list)
    zones: list[NoParkingZoneConfig] = Field(default_factory=list)
    over_capacity_hold_s: float = Field(
        default=20.0, ge=0, description="over (or back within) capacity this long before an event"
    )
    tick_s: float = Field(default=1.0, gt=0, le=60, description="timeouts judged this often")
    telemetry_interval_s: float = Field(default=10.0, gt=0, description="steady-state readings")
    snapshot_interval_s: float = Field(default=60.0, gt=0, description="parking.snapshot events")

    @model_validator(mode="after")
    def _studs_in_one_place(self) -> ParkingConfig:
        listed = [s for b in self.bays for s in b.studs] + [s for z in self.zones for s in z.studs]
        if len(listed) != len(set(listed)):
            raise ValueError("parking: a stud is listed in more than one bay or zone")
        for kind, ids in (("bay", [b.id for b in self.bays]), ("zone", [z.id for z in self.zones])):
            if len(ids) != len(set(ids)):
                raise ValueError(f"parking: {kind} ids must be unique")
        return self


class AgentConfig(BaseSettings):
    """Everything the agent needs; defaults live here, not at the use site."""

    model_config = SettingsConfigDict(
        env_prefix="TIANSHAN_EDGE__",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    device: IdentityConfig
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    checkout: CheckoutConfig | None = None
    fire: FireConfig | None = None
    parking: ParkingConfig | None = None
    state_dir: Path = Field(
        default=Path("var/edge"), description="Where the agent keeps the config it runs"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then the environment, then the TOML file.
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, _FILE_DATA.get() or {}),
        )


_FILE_DATA: ContextVar[dict[str, object] | None] = ContextVar("edge_config_file", default=None)


class ConfigFileError(ValueError):
    """The config file cannot be read or parsed."""


def load_config(path: Path | None = None, **overrides: object) -> AgentConfig:
    """Read ``path`` (TOML) if given, apply the environment on top, validate.

    Raises :class:`ConfigFileError` for an unreadable file and pydantic's
    ``ValidationError`` (which names the offending key) for a wrong value.
    """
    data: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigFileError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"config file {path} is not valid TOML: {exc}") from None
    token = _FILE_DATA.set(data)
    try:
        return AgentConfig(**overrides)  # type: ignore[arg-type]
    finally:
        _FILE_DATA.reset(token)
