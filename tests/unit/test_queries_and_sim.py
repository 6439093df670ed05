"""InfluxQL building, the pushed-config validator, and the simulator's determinism."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud.storage.telemetry import TelemetryQuery, window_seconds
from edge.remote_config import ConfigRejected, validate
from edge.sim import FIELDS, reading_at, reading_value
from wire import DeviceConfig


def test_raw_query() -> None:
    q = TelemetryQuery(
        field="temperature",
        device="box-1",
        limit=10,
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert q.influxql() == (
        'SELECT "temperature" FROM "telemetry" WHERE time >= \'2026-01-01T00:00:00.000000Z\' '
        "AND time < '2026-01-02T00:00:00.000000Z' AND \"device\" = 'box-1' "
        "GROUP BY * ORDER BY time ASC LIMIT 11"
    )


def test_windowed_query() -> None:
    q = TelemetryQuery(
        field="power_w",
        window="5m",
        aggregate="max",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert 'SELECT max("power_w")' in q.influxql()
    assert 'GROUP BY time(5m), "device" fill(none)' in q.influxql()


@pytest.mark.parametrize(
    ("window", "seconds"),
    [("250ms", 0.25), ("10s", 10), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1w", 604800)],
)
def test_window_seconds(window: str, seconds: float) -> None:
    assert window_seconds(window) == pytest.approx(seconds)


def test_config_validation_names_the_problem() -> None:
    good = DeviceConfig(device_id="b", version=2, settings={"telemetry": {"max_readings": 50}})
    assert validate(good).telemetry is not None
    with pytest.raises(ConfigRejected, match=r"telemetry\.max_readings"):
        validate(
            DeviceConfig(device_id="b", version=3, settings={"telemetry": {"max_readings": 0}})
        )
    with pytest.raises(ConfigRejected, match="surprise"):
        validate(DeviceConfig(device_id="b", version=4, settings={"surprise": 1}))


def test_simulated_readings_are_deterministic() -> None:
    a = [reading_at(3, i, t0_us=1000, period_us=10) for i in range(8)]
    b = [reading_at(3, i, t0_us=1000, period_us=10) for i in range(8)]
    assert a == b
    assert [r.field for r in a] == list(FIELDS) * 2
    assert [r.ts for r in a] == [1000 + 10 * i for i in range(8)]
    assert reading_value(3, 0) != reading_value(4, 0)
