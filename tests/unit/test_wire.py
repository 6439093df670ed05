"""The contract: topics, models, codec, size limits and rejection reasons."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import (
    MAX_PAYLOAD_BYTES,
    Channel,
    ConfigAck,
    DeviceConfig,
    Event,
    PayloadTooLarge,
    Reading,
    RejectReason,
    Severity,
    State,
    Status,
    Telemetry,
    TopicError,
    WireError,
    WireMessage,
    decode,
    decode_device_message,
    device_topic,
    encode,
    new_message_id,
    parse_topic,
    subscription,
)


def test_topic_layout() -> None:
    assert device_topic("box-1", Channel.TELEMETRY) == "tianshan/v1/dev/box-1/telemetry"
    assert device_topic("box-1", Channel.CONFIG_ACK) == "tianshan/v1/dev/box-1/config/ack"
    assert parse_topic("tianshan/v1/dev/box-1/config/ack") == ("box-1", Channel.CONFIG_ACK)
    assert (
        subscription(Channel.EVENT, share_group="ingest") == "$share/ingest/tianshan/v1/dev/+/event"
    )


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/dev/box-1/telemetry",
        "tianshan/v1/dev/box-1",
        "tianshan/v1/dev/box 1/telemetry",
        "tianshan/v1/dev/box-1/bogus",
        "tianshan/v1/dev//telemetry",
    ],
)
def test_bad_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(topic)


@pytest.mark.parametrize("device_id", ["a/b", "+", "#", "", "x" * 65, "-lead"])
def test_device_ids_that_break_topics_are_refused(device_id: str) -> None:
    with pytest.raises(TopicError):
        device_topic(device_id, Channel.STATE)


def test_every_channel_round_trips() -> None:
    messages: list[WireMessage] = [
        Telemetry(device_id="d1", seq=1, readings=[Reading(ts=1, field="t", value=1.5)]),
        Event(device_id="d1", seq=2, type="fire.alarm", severity=Severity.CRITICAL, data={"z": 1}),
        State(device_id="d1", seq=3, uptime_s=1.0, heartbeat_interval_s=30, software="x"),
        Status(device_id="d1", state="online", session=new_message_id(), since=5),
        DeviceConfig(device_id="d1", version=3, settings={"heartbeat": {"interval_s": 5}}),
        ConfigAck(device_id="d1", seq=4, version=3, result="applied"),
    ]
    for message in messages:
        assert decode(message.channel, encode(message)) == message


def test_optional_fields_stay_off_the_wire() -> None:
    body = json.loads(
        encode(Telemetry(device_id="d", seq=0, readings=[Reading(ts=1, field="t", value=2)]))
    )
    assert body["readings"] == [{"ts": 1, "field": "t", "value": 2.0}]


def _telemetry_json(**changes: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "msg_id": "a" * 32,
        "device_id": "d1",
        "seq": 1,
        "ts": 10,
        "readings": [{"ts": 10, "field": "temp", "value": 1.5}],
    }
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", RejectReason.MALFORMED_JSON),
        (b"", RejectReason.MALFORMED_JSON),
        (_telemetry_json(v=2), RejectReason.UNSUPPORTED_VERSION),
        (_telemetry_json(readings=[]), RejectReason.SCHEMA),
        (_telemetry_json(readings=[{"ts": 1, "field": "t", "value": "1.5"}]), RejectReason.SCHEMA),
        (
            _telemetry_json(readings=[{"ts": 1, "field": "Bad Name", "value": 1}]),
            RejectReason.SCHEMA,
        ),
        (
            _telemetry_json(
                readings=[{"ts": 1, "field": "t", "value": 1, "tags": {"device": "x"}}]
            ),
            RejectReason.SCHEMA,
        ),
        (_telemetry_json(ts=-1), RejectReason.SCHEMA),
        (_telemetry_json(extra="field"), RejectReason.SCHEMA),
        (_telemetry_json(device_id="d2"), RejectReason.DEVICE_MISMATCH),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), RejectReason.OVERSIZE),
    ],
)
def test_refusals_carry_a_reason(payload: bytes, reason: RejectReason) -> None:
    with pytest.raises(WireError) as caught:
        decode_device_message("tianshan/v1/dev/d1/telemetry", payload)
    assert caught.value.reason is reason
    assert caught.value.detail


def test_config_topic_is_not_a_device_message() -> None:
    config = DeviceConfig(device_id="d1", version=1)
    with pytest.raises(WireError) as caught:
        decode_device_message("tianshan/v1/dev/d1/config", encode(config))
    assert caught.value.reason is RejectReason.BAD_TOPIC


def test_encode_refuses_what_decode_would_refuse() -> None:
    big = Event(device_id="d1", seq=1, type="x", data={"blob": "y" * MAX_PAYLOAD_BYTES})
    with pytest.raises(PayloadTooLarge):
        encode(big)


@given(
    st.lists(
        st.builds(
            Reading,
            ts=st.integers(0, 2**52),
            field=st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
            value=st.floats(allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_telemetry_round_trips_exactly(readings: list[Reading]) -> None:
    message = Telemetry(device_id="d1", seq=7, readings=readings)
    decoded = decode_device_message("tianshan/v1/dev/d1/telemetry", encode(message))
    assert decoded == message
