"""The config the cloud pushes on the retained ``config`` topic: validated, applied,
kept on disk, and acknowledged by version.

A config that does not validate is refused with the reason and the box keeps
running the one it has.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from edge.checkout.prices import PriceTable, parse_price_table
from edge.config import HeartbeatConfig, TelemetryConfig, ZoneConfig
from edge.fire.detector_state import DetectorRules
from wire import DeviceConfig

log = logging.getLogger(__name__)


class CheckoutRemote(BaseModel):
    """The site's price table, as written (yuan; see edge.checkout.prices). Kept as
    written so the stored copy reads back the same; validated on arrival."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: dict[str, JsonValue]

    @field_validator("prices")
    @classmethod
    def _valid_table(cls, prices: dict[str, JsonValue]) -> dict[str, JsonValue]:
        parse_price_table(prices)  # PriceError is a ValueError: the reason goes back
        return prices

    def price_table(self) -> PriceTable:
        return parse_price_table(self.prices)


class FireRemote(BaseModel):
    """Detector thresholds and zone settings pushed by the cloud."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: DetectorRules | None = None
    zones: list[ZoneConfig] | None = None


class RemoteSettings(BaseModel):
    """Sections the cloud may set. Unknown sections are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    telemetry: TelemetryConfig | None = None
    heartbeat: HeartbeatConfig | None = None
    checkout: CheckoutRemote | None = None
    fire: FireRemote | None = None


class AppliedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    settings: RemoteSettings


class ConfigRejected(ValueError):
    """A pushed config the box will not run; ``str()`` is the reason sent back."""


def validate(config: DeviceConfig) -> RemoteSettings:
    try:
        return RemoteSettings.model_validate(config.settings)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigRejected(problems[:480]) from None


class ConfigStore:
    """The applied config on disk, written atomically (readable by the owner only)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "applied-config.json"

    def load(self) -> AppliedConfig | None:
        try:
            return AppliedConfig.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            log.error("ignoring unreadable applied config %s: %s", self.path, exc)
            return None

    def save(self, applied: AppliedConfig) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".config-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(applied.model_dump(mode="json"), f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
