"""Our line protocol must say exactly what influxdb-client's Point says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from cloud.storage.line_protocol import event_line, state_line, telemetry_lines
from wire import Event, OutboxStats, Reading, Severity, State, Telemetry

tag_values = st.from_regex(r"[A-Za-z0-9_.:\-]{1,20}", fullmatch=True)


def point_for(device: str, r: Reading) -> str:
    p = Point("telemetry").tag("device", device)  # type: ignore[no-untyped-call]
    p = p.field(r.field, r.value).time(r.ts * 1000, WritePrecision.NS)
    for k, v in (r.tags or {}).items():
        p = p.tag(k, v)
    return str(p.to_line_protocol())


@given(
    st.lists(
        st.builds(
            Reading,
            ts=st.integers(0, 2**50),
            field=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True),
            value=st.floats(allow_nan=False, allow_infinity=False),
            tags=st.one_of(
                st.none(),
                st.dictionaries(
                    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
                        lambda k: k not in {"device", "time"}
                    ),
                    tag_values,
                    max_size=3,
                ),
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_telemetry_lines_match_point(readings: list[Reading]) -> None:
    message = Telemetry(device_id="box-1", seq=1, readings=readings)
    ours = telemetry_lines(message)
    theirs = [point_for("box-1", r) for r in readings]
    # Point writes floats with repr() too; tags are sorted by both.
    assert [_norm(x) for x in ours] == [_norm(x) for x in theirs]


def _norm(line: str) -> str:
    # Point drops the ".0" of whole floats; InfluxDB reads "1" and "1.0" as the same float.
    head, field, ts = line.rsplit(" ", 2)
    key, value = field.split("=", 1)
    return f"{head} {key}={float(value)!r} {ts}"


def test_event_and_state_lines() -> None:
    event = Event(
        device_id="b1",
        seq=3,
        ts=5,
        type="fire.alarm",
        severity=Severity.CRITICAL,
        source="det-7",
        msg_id="f" * 32,
    )
    assert event_line(event) == (
        "events,device=b1,severity=critical,source=det-7,type=fire.alarm "
        f'msg_id="{"f" * 32}",seq=3i 5000'
    )
    state = State(
        device_id="b1",
        seq=4,
        ts=6,
        uptime_s=12,
        heartbeat_interval_s=30,
        software="x",
        config_version=2,
        outbox=OutboxStats(depth={"alarm": 1, "telemetry": 2}, bytes=9),
    )
    assert state_line(state) == (
        "device_state,device=b1 uptime_s=12.0,outbox_depth=3i,outbox_bytes=9i,"
        "dropped_readings=0i,dropped_messages=0i,config_version=2i 6000"
    )
