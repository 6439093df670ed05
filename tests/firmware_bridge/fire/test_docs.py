"""REGISTERS.md and PANEL_LINES.md say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_bridge.fire import modbus_map
from firmware_bridge.fire.errors import ParseReason, RegisterDecodeReason
from firmware_bridge.fire.modbus_map import Reg, StatusBit
from firmware_bridge.fire.panel_parser import parse_line

DOCS = Path(modbus_map.__file__).parent
REGISTERS = (DOCS / "REGISTERS.md").read_text(encoding="utf-8")
PANEL_LINES = (DOCS / "PANEL_LINES.md").read_text(encoding="utf-8")


def table_rows(text: str, heading: str) -> list[list[str]]:
    """Cells of the first table under ``heading``, header and rule rows left out."""
    section = text.split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]
        rows.append(cells)
    return rows[2:]


def test_register_table_matches_the_constants() -> None:
    rows = table_rows(REGISTERS, "## Registers")
    documented = [(int(r[0]), int(r[1]), r[2]) for r in rows]
    assert documented == [(int(reg), 30001 + int(reg), reg.name) for reg in Reg]
    assert f"0x{modbus_map.DEVICE_TYPE_SMOKE_HEAT:04X}" in rows[Reg.DEVICE_TYPE][5]
    assert "-400..1250" in rows[Reg.TEMPERATURE][5]
    assert "0..5000" in rows[Reg.OBSCURATION][5]
    assert f"0..{modbus_map.BATTERY_MAX_MV}" in rows[Reg.BATTERY][5]
    assert f"count **{modbus_map.REGISTER_COUNT}**" in REGISTERS
    assert f"address **{modbus_map.FIRST_REGISTER}**" in REGISTERS


def test_status_bits_table_matches_the_constants() -> None:
    rows = table_rows(REGISTERS, "## STATUS bits")
    documented = {r[1]: int(r[0]) for r in rows if r[0].isdigit()}
    assert documented == {bit.name: bit.value.bit_length() - 1 for bit in StatusBit}


def test_register_decode_reasons_are_all_documented_in_order() -> None:
    rows = table_rows(REGISTERS, "## What the decoder reports")
    assert [r[0].strip("`") for r in rows] == [r.value for r in RegisterDecodeReason]


def test_parse_reasons_are_all_documented() -> None:
    rows = table_rows(PANEL_LINES, "## Rejected lines")
    assert {r[0].strip("`") for r in rows} == {r.value for r in ParseReason}


def example_lines() -> list[str]:
    block = PANEL_LINES.split("Examples (all in the test corpus):", 1)[1]
    body = block.split("```", 2)[1]
    return [line for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("line", example_lines())
def test_every_documented_example_is_an_event(line: str) -> None:
    assert parse_line(line) is not None
    assert parse_line(line.encode("gb18030") + b"\r\n") is not None


def test_the_documented_examples_are_the_corpus() -> None:
    from tests.firmware_bridge.fire.test_panel_parser import EVENTS

    corpus = {" ".join(line.split()) for line, *_ in EVENTS}
    assert {" ".join(line.split()) for line in example_lines()} <= corpus
    assert len(example_lines()) == 9
