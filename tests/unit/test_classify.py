"""Hostile and malformed payloads: the ingest's classifier never raises, always says why."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.classify import Accepted, classify
from cloud.storage.rejects import Rejection
from wire import MAX_PAYLOAD_BYTES, Reading, RejectReason, Telemetry, encode

REASONS = {r.value for r in RejectReason}
LINE = re.compile(
    r"telemetry(,[a-z][a-z0-9_]*=[A-Za-z0-9_.:\-]+)+"
    r" [a-z][a-z0-9_]*=-?[0-9.]+(e[+-]?[0-9]+)? [0-9]+"
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)

topics = st.one_of(
    st.sampled_from(
        [
            "tianshan/v1/dev/box-1/telemetry",
            "tianshan/v1/dev/box-1/event",
            "tianshan/v1/dev/box-1/state",
            "tianshan/v1/dev/box-1/status",
            "tianshan/v1/dev/box-1/config/ack",
            "tianshan/v1/dev/box-1/config",
            "tianshan/v1/dev/../telemetry",
        ]
    ),
    st.text(max_size=80),
)


def check(topic: str, payload: bytes) -> Accepted | Rejection:
    result = classify(topic, payload)
    if isinstance(result, Rejection):
        assert result.reason in REASONS, result
        assert result.detail
        assert result.payload == payload
        assert result.topic == topic
    return result


@settings(max_examples=300)
@given(topics, st.binary(max_size=2048))
def test_random_bytes(topic: str, payload: bytes) -> None:
    check(topic, payload)


@settings(max_examples=300)
@given(topics, json_values)
def test_random_json(topic: str, value: object) -> None:
    check(topic, json.dumps(value).encode())


envelope = st.fixed_dictionaries(
    {
        "v": st.one_of(st.just(1), json_values),
        "msg_id": st.one_of(st.just("a" * 32), json_values),
        "device_id": st.one_of(st.just("box-1"), st.just("box-2"), json_values),
        "seq": st.one_of(st.integers(-5, 2**70), json_values),
        "ts": st.one_of(st.integers(-5, 2**70), json_values),
        "readings": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "ts": st.integers(-1, 2**66),
                        "field": st.text(max_size=70),
                        "value": st.one_of(st.floats(), st.integers(), st.text(max_size=5)),
                    },
                    optional={
                        "tags": st.dictionaries(
                            st.text(max_size=40), st.text(max_size=70), max_size=10
                        )
                    },
                ),
                max_size=5,
            ),
            json_values,
        ),
    },
    optional={"extra": json_values},
)


@settings(max_examples=500)
@given(envelope)
def test_near_miss_telemetry(body: dict[str, object]) -> None:
    result = check("tianshan/v1/dev/box-1/telemetry", json.dumps(body).encode())
    if isinstance(result, Accepted):
        # Accepted means every line is well-formed line protocol for this device.
        assert body["device_id"] == "box-1"
        lines = [line for block in result.lines for line in block.split("\n")]
        assert len(lines) == result.line_count
        for line in lines:
            assert LINE.fullmatch(line), line
            assert ",device=box-1" in line


def test_oversize_is_refused_before_parsing() -> None:
    result = classify("tianshan/v1/dev/box-1/telemetry", b"[" * (MAX_PAYLOAD_BYTES + 10))
    assert isinstance(result, Rejection)
    assert result.reason == "oversize"


def test_good_telemetry_becomes_lines() -> None:
    message = Telemetry(device_id="box-1", seq=0, readings=[Reading(ts=2, field="t", value=1)])
    result = classify("tianshan/v1/dev/box-1/telemetry", encode(message))
    assert isinstance(result, Accepted)
    assert result.lines == ("telemetry,device=box-1 t=1.0 2000",)
    assert result.line_count == 1


def test_rejection_names_the_device_when_the_topic_does() -> None:
    result = classify("tianshan/v1/dev/box-1/event", b"{}")
    assert isinstance(result, Rejection)
    assert result.device_id == "box-1"
    result = classify("elsewhere", b"{}")
    assert isinstance(result, Rejection)
    assert result.device_id is None
    assert result.reason == "bad_topic"
