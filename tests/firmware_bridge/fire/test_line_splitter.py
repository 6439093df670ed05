"""LineSplitter: endings, chunking, over-long lines, resets."""

from __future__ import annotations

import pytest

from firmware_bridge.fire.panel_parser import MAX_LINE_LENGTH
from firmware_bridge.fire.panel_source import LineEnding, LineSplitter


def test_auto_takes_crlf_lf_and_cr_without_inventing_blank_lines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntwo\nthree\rfour\r\n") == [b"one", b"two", b"three", b"four"]


def test_a_cr_ended_line_is_delivered_at_once_and_its_lf_is_not_a_blank_line() -> None:
    splitter = LineSplitter(LineEnding.AUTO)
    assert splitter.feed(b"ALARM\r") == [b"ALARM"]  # not held back for the next line
    assert splitter.feed(b"\nnext\r\n") == [b"next"]
    assert splitter.feed(b"\r\n") == [b""]  # a real blank line is still a line


def test_crlf_split_across_reads() -> None:
    splitter = LineSplitter(LineEnding.CRLF)
    assert splitter.feed(b"abc\r") == []
    assert splitter.feed(b"\ndef\r\n") == [b"abc", b"def"]


@pytest.mark.parametrize(
    ("ending", "stream", "lines"),
    [
        (LineEnding.CRLF, b"a\rb\nc\r\n", [b"a\rb\nc"]),
        (LineEnding.LF, b"a\r\nb\n", [b"a\r", b"b"]),
        (LineEnding.CR, b"a\nb\rc\r", [b"a\nb", b"c"]),
    ],
)
def test_a_declared_ending_is_the_only_separator(
    ending: LineEnding, stream: bytes, lines: list[bytes]
) -> None:
    assert LineSplitter(ending).feed(stream) == lines


def test_an_over_long_line_is_cut_once_and_its_tail_dropped() -> None:
    splitter = LineSplitter(max_length=10)
    assert splitter.feed(b"0123456789ABC") == [b"0123456789A"]
    assert splitter.feed(b"DEFGHIJKLMNOP") == []
    assert splitter.feed(b"QRS\r\nok\r\n") == [b"ok"]


def test_the_default_limit_is_the_parsers() -> None:
    splitter = LineSplitter()
    out = splitter.feed(b"x" * (MAX_LINE_LENGTH + 5))
    assert [len(line) for line in out] == [MAX_LINE_LENGTH + 1]


def test_reset_returns_and_forgets_the_partial_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"2024-03-14 10:32 ALA") == []
    assert splitter.reset() == b"2024-03-14 10:32 ALA"
    assert splitter.feed(b"RM\r\n") == [b"RM"]
    assert splitter.reset() == b""
