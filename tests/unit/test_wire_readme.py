"""Every example in wire/README.md is a valid message of the channel its heading names,
and an event's data validates as its type's model (wire.events)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wire import Channel, Event, decode, parse_topic
from wire.events import event_data

README = Path(__file__).resolve().parents[2] / "wire" / "README.md"
EXAMPLE = re.compile(r"^### `(tianshan/v1/dev/[^`]+)`.*?```json\n(.*?)```", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(README.read_text())


def test_there_is_an_example_of_every_channel() -> None:
    channels = [parse_topic(topic).channel for topic, _ in examples()]
    assert set(channels) == set(Channel)


@pytest.mark.parametrize(("topic", "body"), examples())
def test_each_example_decodes(topic: str, body: str) -> None:
    device_id, channel = parse_topic(topic)
    message = decode(channel, body.encode())
    assert message.device_id == device_id
    if isinstance(message, Event):
        event_data(message)  # raises for typed data that does not validate
