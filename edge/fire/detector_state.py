"""Per-detector fire logic: normal → pre-alarm → alarm and back, troubles, hysteresis.

Pure: samples and the time come in, transitions (each becomes one event) go out.

* Heat (EN 54-5 class A1 defaults): a fixed temperature (static response 54-65 °C,
  default 58 °C) and a rate of rise (least-squares slope over a window).
* Smoke: an obscuration threshold in %/m, with an optional verification window per
  zone (at most 60 s): above the threshold the detector is re-checked at the end of
  the window and alarms only if it is still above.
* The detector's own alarm bit is an alarm too.
* Hysteresis: a level is entered at its threshold and left only below threshold minus
  a margin, held for ``restore_s``; a value hovering at a threshold does not flap.
* Troubles (communication lost, low battery, dirty chamber, device fault), each its
  own event and restore.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wire.fire import Cause, TroubleKind


class Level(IntEnum):
    NORMAL = 0
    PREALARM = 1
    ALARM = 2


class HeatThresholds(BaseModel):
    """EN 54-5 class A1: static response between 54 and 65 °C; A1R adds rate of rise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prealarm_c: float = Field(default=50.0, description="°C")
    alarm_c: float = Field(default=58.0, ge=54.0, le=65.0, description="°C, EN 54-5 A1 range")
    hysteresis_c: float = Field(default=4.0, gt=0)
    rate_of_rise_c_per_min: float | None = Field(
        default=10.0, gt=0, description="None: fixed temperature only"
    )
    rate_window_s: float = Field(default=60.0, ge=10, le=600)
    rate_min_span_s: float = Field(default=20.0, ge=5)

    @model_validator(mode="after")
    def _ordered(self) -> HeatThresholds:
        if self.prealarm_c >= self.alarm_c:
            raise ValueError("prealarm_c must be below alarm_c")
        return self


class SmokeThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prealarm_pct_m: float = Field(default=1.5, gt=0, description="obscuration, %/m")
    alarm_pct_m: float = Field(default=3.0, gt=0, description="obscuration, %/m")
    hysteresis_pct_m: float = Field(default=0.5, gt=0)
    verify_s: float | None = Field(
        default=None, gt=0, le=60, description="alarm verification window (zone setting)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SmokeThresholds:
        if self.prealarm_pct_m >= self.alarm_pct_m:
            raise ValueError("prealarm_pct_m must be below alarm_pct_m")
        return self


class DetectorRules(BaseModel):
    """Everything one detector is judged by (defaults, overridden per detector)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heat: HeatThresholds = HeatThresholds()
    smoke: SmokeThresholds = SmokeThresholds()
    restore_s: float = Field(default=10.0, ge=0, description="below the restore level this long")
    comm_timeout_s: float = Field(default=30.0, gt=0, description="silent this long: comm lost")
    low_battery_mv: int | None = Field(default=2600, description="None: trust the device bit")
    low_battery_hysteresis_mv: int = Field(default=100, ge=0)


@dataclass(frozen=True, slots=True)
class Sample:
    """One successful read of a detector."""

    at: float
    temperature_c: float | None = None
    obscuration_pct_m: float | None = None
    battery_mv: int | None = None
    alarm_bit: bool = False
    fault_bit: bool = False
    low_battery_bit: bool = False
    dirty_chamber_bit: bool = False


@dataclass(frozen=True, slots=True)
class LevelChange:
    """The detector's level moved; ``cause`` says why (for a rise) or what cleared."""

    at: float
    before: Level
    after: Level
    cause: Cause
    value: float | None
    threshold: float | None
    verified_s: float | None = None


@dataclass(frozen=True, slots=True)
class TroubleChange:
    at: float
    trouble: TroubleKind
    active: bool
    detail: str | None = None


Transition = LevelChange | TroubleChange


@dataclass
class _Cause:
    """One reason to be in pre-alarm or alarm, with its own thresholds and hysteresis."""

    alarm: float
    pre: float | None
    margin: float
    level: Level = Level.NORMAL
    below_since: float | None = None  # when the value fell under the level's restore point
    value: float | None = None

    def target(self, value: float) -> Level:
        """The level a value belongs to, by the plain thresholds."""
        if value >= self.alarm:
            return Level.ALARM
        if self.pre is not None and value >= self.pre:
            return Level.PREALARM
        return Level.NORMAL

    @property
    def threshold(self) -> float | None:
        return self.alarm if self.level is Level.ALARM else self.pre

    def _restore_point(self) -> float:
        edge = self.alarm if self.level is Level.ALARM or self.pre is None else self.pre
        return edge - self.margin

    def update(self, at: float, value: float) -> None:
        """Up at once; down only below the threshold minus the margin (see settle)."""
        self.value = value
        wanted = self.target(value)
        if wanted >= self.level:
            self.level, self.below_since = wanted, None
        elif value < self._restore_point():
            if self.below_since is None:
                self.below_since = at
        else:
            self.below_since = None

    def settle(self, now: float, hold_s: float) -> None:
        """Step down to where the value belongs once it has been low for ``hold_s``."""
        if self.level is Level.NORMAL or self.below_since is None or self.value is None:
            return
        if now - self.below_since < hold_s:
            return
        self.level = self.target(self.value)
        # A further step down (pre-alarm → normal) needs its own hold.
        low = self.level is not Level.NORMAL and self.value < self._restore_point()
        self.below_since = now if low else None


@dataclass
class DetectorMachine:
    detector: str
    zone: str
    rules: DetectorRules = field(default_factory=DetectorRules)
    level: Level = Level.NORMAL
    troubles: set[TroubleKind] = field(default_factory=set)
    last_heard: float | None = None
    unverified_alarms: int = 0
    _causes: dict[Cause, _Cause] = field(default_factory=dict)
    _temps: deque[tuple[float, float]] = field(default_factory=deque)
    _verify_since: float | None = None
    _verified: bool = False
    _reason: Cause | None = None  # what put the detector at its current level

    # -- inputs ---------------------------------------------------------------------------

    def feed(self, sample: Sample) -> list[Transition]:
        """A successful read: judge it, and clear a communication trouble."""
        out: list[Transition] = []
        self.last_heard = sample.at
        if TroubleKind.COMM_LOST in self.troubles:
            out.append(self._trouble(sample.at, TroubleKind.COMM_LOST, active=False))
        out += self._troubles_from(sample)
        if sample.temperature_c is not None:
            self._heat(sample.at, sample.temperature_c)
        if sample.obscuration_pct_m is not None:
            self._smoke(sample.at, sample.obscuration_pct_m)
        self._bit(sample.at, Cause.DEVICE, sample.alarm_bit)
        out += self._settle(sample.at)
        return out

    def tick(self, now: float) -> list[Transition]:
        """Time passes (call it between reads too: restores are held in time)."""
        out: list[Transition] = []
        silent_since = self.last_heard
        if (
            silent_since is not None
            and now - silent_since >= self.rules.comm_timeout_s
            and TroubleKind.COMM_LOST not in self.troubles
        ):
            out.append(
                self._trouble(
                    now,
                    TroubleKind.COMM_LOST,
                    active=True,
                    detail=f"no answer for {now - silent_since:.0f} s",
                )
            )
        out += self._settle(now)
        return out

    def start(self, now: float) -> None:
        """The clock for communication loss starts now (a detector never heard of)."""
        if self.last_heard is None:
            self.last_heard = now

    # -- causes ---------------------------------------------------------------------------

    def _cause(self, cause: Cause, alarm: float, pre: float | None, margin: float) -> _Cause:
        c = self._causes.get(cause)
        if c is None:
            c = self._causes[cause] = _Cause(alarm, pre, margin)
        else:  # thresholds may have been changed by a pushed config
            c.alarm, c.pre, c.margin = alarm, pre, margin
        return c

    def _heat(self, at: float, temp: float) -> None:
        h = self.rules.heat
        self._cause(Cause.FIXED_TEMPERATURE, h.alarm_c, h.prealarm_c, h.hysteresis_c).update(
            at, temp
        )
        if h.rate_of_rise_c_per_min is None:
            return
        self._temps.append((at, temp))
        while self._temps and at - self._temps[0][0] > h.rate_window_s:
            self._temps.popleft()
        rate = self._rate()
        if rate is not None:
            limit = h.rate_of_rise_c_per_min
            # Rate of rise has no pre-alarm; it clears when the rise has halved.
            self._cause(Cause.RATE_OF_RISE, limit, None, limit / 2).update(at, rate)

    def _rate(self) -> float | None:
        """°C per minute: least-squares slope over the window, once it spans enough."""
        points = self._temps
        if len(points) < 3 or points[-1][0] - points[0][0] < self.rules.heat.rate_min_span_s:
            return None
        n = len(points)
        mean_t = sum(t for t, _ in points) / n
        mean_v = sum(v for _, v in points) / n
        var = sum((t - mean_t) ** 2 for t, _ in points)
        cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
        return 60.0 * cov / var if var else None

    def _smoke(self, at: float, obscuration: float) -> None:
        s = self.rules.smoke
        c = self._cause(Cause.OBSCURATION, s.alarm_pct_m, s.prealarm_pct_m, s.hysteresis_pct_m)
        c.update(at, obscuration)
        if s.verify_s is None:
            return
        if c.level is Level.ALARM and not self._verified:
            # Alarm verification: hold at pre-alarm and re-check when the window is over.
            if self._verify_since is None:
                self._verify_since = at
            if at - self._verify_since < s.verify_s:
                c.level = Level.PREALARM
            else:
                self._verified, self._verify_since = True, None
        elif c.level is not Level.ALARM:
            if self._verify_since is not None:
                self.unverified_alarms += 1  # it went away inside the window
            self._verify_since, self._verified = None, False

    def _bit(self, at: float, cause: Cause, on: bool) -> None:
        self._cause(cause, 1.0, None, 0.5).update(at, 1.0 if on else 0.0)

    # -- outputs ---------------------------------------------------------------------------

    def _settle(self, now: float) -> list[Transition]:
        """Apply restores held long enough; report a change of the detector's level."""
        for c in self._causes.values():
            c.settle(now, self.rules.restore_s)
        top_cause, top = max(self._causes.items(), key=lambda kv: kv[1].level, default=(None, None))
        level = top.level if top is not None else Level.NORMAL
        if level == self.level:
            return []
        # A rise is explained by what rose; a fall by what had been the reason.
        cause = top_cause if level > self.level else self._reason
        reason = self._causes.get(cause) if cause is not None else None
        change = LevelChange(
            at=now,
            before=self.level,
            after=level,
            cause=cause or Cause.DEVICE,
            value=reason.value if reason else None,
            threshold=reason.threshold if reason else None,
            verified_s=self.rules.smoke.verify_s
            if cause is Cause.OBSCURATION and level is Level.ALARM
            else None,
        )
        self.level = level
        self._reason = top_cause if level is not Level.NORMAL else self._reason
        return [change]

    def _troubles_from(self, s: Sample) -> list[Transition]:
        out: list[Transition] = []
        r = self.rules
        low = s.low_battery_bit
        if s.battery_mv is not None and r.low_battery_mv is not None:
            limit = r.low_battery_mv + (
                r.low_battery_hysteresis_mv if TroubleKind.LOW_BATTERY in self.troubles else 0
            )
            low = low or s.battery_mv < limit
        for kind, active, detail in (
            (TroubleKind.LOW_BATTERY, low, f"{s.battery_mv} mV" if s.battery_mv else None),
            (TroubleKind.DIRTY_CHAMBER, s.dirty_chamber_bit, None),
            (TroubleKind.DEVICE_FAULT, s.fault_bit, None),
        ):
            if active != (kind in self.troubles):
                out.append(self._trouble(s.at, kind, active=active, detail=detail))
        return out

    def _trouble(
        self, at: float, kind: TroubleKind, *, active: bool, detail: str | None = None
    ) -> TroubleChange:
        if active:
            self.troubles.add(kind)
        else:
            self.troubles.discard(kind)
        return TroubleChange(at, kind, active, detail)
