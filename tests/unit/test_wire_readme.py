"""Every example in wire/README.md is a valid message of the channel its heading names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wire import Channel, decode, parse_topic

README = Path(__file__).resolve().parents[2] / "wire" / "README.md"
EXAMPLE = re.compile(r"^### `(tianshan/v1/dev/[^`]+)`.*?```json\n(.*?)```", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    return EXAMPLE.findall(README.read_text())


def test_there_is_one_example_per_channel() -> None:
    channels = [parse_topic(topic).channel for topic, _ in examples()]
    assert sorted(channels) == sorted(Channel)


@pytest.mark.parametrize(("topic", "body"), examples())
def test_each_example_decodes(topic: str, body: str) -> None:
    device_id, channel = parse_topic(topic)
    message = decode(channel, body.encode())
    assert message.device_id == device_id
