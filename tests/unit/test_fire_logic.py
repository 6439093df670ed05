"""The detector state machines and the zone rule, driven with exact times."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from edge.fire.detector_state import (
    DetectorMachine,
    DetectorRules,
    HeatThresholds,
    Level,
    LevelChange,
    Sample,
    SmokeThresholds,
    TroubleChange,
)
from edge.fire.zone_rule import ZoneRule
from wire.fire import Cause, TroubleKind


def machine(**rules: object) -> DetectorMachine:
    return DetectorMachine("det-1", "Z1", DetectorRules.model_validate(rules))


def levels(changes: Sequence[object]) -> list[tuple[Level, Level, Cause]]:
    return [(c.before, c.after, c.cause) for c in changes if isinstance(c, LevelChange)]


def run(m: DetectorMachine, samples: list[Sample]) -> list[object]:
    out: list[object] = []
    for s in samples:
        out += m.feed(s)
    return out


def temps(values: list[float], *, start: float = 0.0, step: float = 5.0) -> list[Sample]:
    return [Sample(at=start + i * step, temperature_c=v) for i, v in enumerate(values)]


def test_heat_prealarm_then_alarm_at_fixed_temperature() -> None:
    m = machine(heat={"rate_of_rise_c_per_min": None})
    out = run(m, temps([25, 40, 51, 55, 59]))
    assert levels(out) == [
        (Level.NORMAL, Level.PREALARM, Cause.FIXED_TEMPERATURE),
        (Level.PREALARM, Level.ALARM, Cause.FIXED_TEMPERATURE),
    ]
    alarm = [c for c in out if isinstance(c, LevelChange)][-1]
    assert alarm.value == 59
    assert alarm.threshold == 58


def test_a_value_hovering_at_the_threshold_does_not_flap() -> None:
    m = machine(heat={"rate_of_rise_c_per_min": None}, restore_s=10)
    wobble = [57.9, 58.1, 57.8, 58.2, 57.5, 58.0, 56.9, 58.3] * 3
    out = run(m, temps([25, *wobble]))
    # 57.9 °C is past the 50 °C pre-alarm, 58.1 °C past the alarm; then nothing moves.
    assert levels(out) == [
        (Level.NORMAL, Level.PREALARM, Cause.FIXED_TEMPERATURE),
        (Level.PREALARM, Level.ALARM, Cause.FIXED_TEMPERATURE),
    ]


def test_alarm_restores_only_below_the_margin_for_the_hold_time() -> None:
    m = machine(heat={"rate_of_rise_c_per_min": None, "hysteresis_c": 4}, restore_s=10)
    out = run(m, temps([25, 60, 55, 55, 55], step=5))  # 55 > 58-4: still alarm
    assert m.level is Level.ALARM
    out += run(m, temps([53, 53], start=30, step=5))  # below 54 from t=30
    assert m.level is Level.ALARM  # held 5 s only at t=35
    out += run(m, temps([53], start=40))  # 10 s below: down to pre-alarm (53 ≥ 50)
    assert levels(out)[-1] == (Level.ALARM, Level.PREALARM, Cause.FIXED_TEMPERATURE)
    out += run(m, temps([30, 30, 30], start=45, step=5))
    out += m.tick(60)
    assert levels(out)[-1] == (Level.PREALARM, Level.NORMAL, Cause.FIXED_TEMPERATURE)


def test_rate_of_rise_alarms_below_the_fixed_temperature() -> None:
    m = machine(heat={"rate_of_rise_c_per_min": 10, "rate_min_span_s": 20})
    # +1.5 °C every 5 s = 18 °C/min, well under 58 °C.
    out = run(m, temps([25 + 1.5 * i for i in range(10)]))
    changes = levels(out)
    assert changes == [(Level.NORMAL, Level.ALARM, Cause.RATE_OF_RISE)]
    assert m.level is Level.ALARM
    rise = next(c for c in out if isinstance(c, LevelChange))
    assert rise.value == pytest.approx(18.0)


def test_a_slow_warm_room_is_no_rate_of_rise() -> None:
    m = machine()
    out = run(m, temps([22 + 0.2 * i for i in range(40)]))  # 2.4 °C/min
    assert levels(out) == []


def test_smoke_thresholds() -> None:
    m = machine()
    out = run(
        m,
        [Sample(at=float(i), obscuration_pct_m=v) for i, v in enumerate([0.1, 0.5, 1.6, 2.0, 3.1])],
    )
    assert levels(out) == [
        (Level.NORMAL, Level.PREALARM, Cause.OBSCURATION),
        (Level.PREALARM, Level.ALARM, Cause.OBSCURATION),
    ]


def test_alarm_verification_waits_and_rechecks() -> None:
    m = machine(smoke={"verify_s": 30})
    out = run(m, [Sample(at=0.0, obscuration_pct_m=0.2), Sample(at=1.0, obscuration_pct_m=3.5)])
    assert m.level is Level.PREALARM  # held while verifying
    out += run(m, [Sample(at=t, obscuration_pct_m=3.4) for t in (10.0, 20.0, 30.0)])
    assert m.level is Level.PREALARM  # 29 s into a 30 s window
    out += run(m, [Sample(at=31.0, obscuration_pct_m=3.3)])
    alarm = [c for c in out if isinstance(c, LevelChange)][-1]
    assert (alarm.after, alarm.cause, alarm.verified_s) == (Level.ALARM, Cause.OBSCURATION, 30)


def test_smoke_that_clears_inside_the_window_is_not_an_alarm_and_is_counted() -> None:
    m = machine(smoke={"verify_s": 20})
    run(m, [Sample(at=0.0, obscuration_pct_m=0.1), Sample(at=1.0, obscuration_pct_m=4.0)])
    out = run(m, [Sample(at=t, obscuration_pct_m=0.3) for t in (5.0, 10.0, 15.0, 30.0)])
    out += m.tick(40.0)
    assert Level.ALARM not in [c.after for c in out if isinstance(c, LevelChange)]
    assert m.unverified_alarms == 1
    assert m.level is Level.NORMAL


def test_verification_is_at_most_a_minute() -> None:
    with pytest.raises(ValidationError):
        SmokeThresholds(verify_s=90)
    with pytest.raises(ValidationError):
        HeatThresholds(alarm_c=70)  # outside EN 54-5 A1's 54-65 °C


def test_the_device_alarm_bit_is_an_alarm() -> None:
    m = machine()
    out = run(m, [Sample(at=0.0, temperature_c=22, alarm_bit=True)])
    assert levels(out) == [(Level.NORMAL, Level.ALARM, Cause.DEVICE)]


def troubles(out: Sequence[object]) -> list[tuple[TroubleKind, bool]]:
    return [(c.trouble, c.active) for c in out if isinstance(c, TroubleChange)]


def test_troubles_each_their_own_event_and_restore() -> None:
    m = machine(low_battery_mv=2600, low_battery_hysteresis_mv=100)
    out = run(
        m,
        [
            Sample(at=0.0, battery_mv=2900),
            Sample(at=1.0, battery_mv=2550, dirty_chamber_bit=True),
            Sample(at=2.0, battery_mv=2650, dirty_chamber_bit=True),  # inside the hysteresis
            Sample(at=3.0, battery_mv=2750, fault_bit=True),
            Sample(at=4.0, battery_mv=2750),
        ],
    )
    assert troubles(out) == [
        (TroubleKind.LOW_BATTERY, True),
        (TroubleKind.DIRTY_CHAMBER, True),
        (TroubleKind.LOW_BATTERY, False),
        (TroubleKind.DIRTY_CHAMBER, False),
        (TroubleKind.DEVICE_FAULT, True),
        (TroubleKind.DEVICE_FAULT, False),
    ]


def test_communication_lost_and_back() -> None:
    m = machine(comm_timeout_s=30)
    m.start(0.0)
    assert m.tick(29.0) == []
    out = m.tick(31.0)
    assert troubles(out) == [(TroubleKind.COMM_LOST, True)]
    assert m.tick(60.0) == []  # reported once
    assert troubles(m.feed(Sample(at=61.0, temperature_c=22))) == [(TroubleKind.COMM_LOST, False)]


def test_two_detectors_confirm_a_zone_once_per_episode() -> None:
    zone = ZoneRule("Z1")
    assert zone.update("a", Level.ALARM) is None
    assert zone.update("a", Level.ALARM) is None
    assert zone.update("b", Level.PREALARM) is None  # pre-alarm does not count
    assert zone.update("b", Level.ALARM) == ["a", "b"]
    assert zone.update("c", Level.ALARM) is None  # already confirmed
    for d in "abc":
        zone.update(d, Level.NORMAL)
    assert zone.confirmed is False
    zone.update("a", Level.ALARM)
    assert zone.update("c", Level.ALARM) == ["a", "c"]  # a new episode
