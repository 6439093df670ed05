"""Fire devices: Modbus smoke/heat detectors and fire alarm panel printer ports.

* :mod:`~firmware_bridge.fire.modbus_map`: the detectors' register map and its pure
  decoder :func:`decode_registers`.
* :mod:`~firmware_bridge.fire.modbus_source`: :class:`ModbusDetectorSource` polls
  detectors over Modbus TCP or RTU (:class:`DetectorSource` protocol).
* :mod:`~firmware_bridge.fire.panel_parser`: the pure printer-line parser
  :func:`parse_line`.
* :mod:`~firmware_bridge.fire.panel_source`: :class:`SerialPanelSource` reads a
  panel's printer port (:class:`PanelSource` protocol).
* :mod:`~firmware_bridge.fire.sim` and :mod:`~firmware_bridge.fire.pty_link`:
  simulators and software serial ports for tests and the demo (not imported here).
"""

from firmware_bridge.fire.errors import (
    DecodeError,
    ParseError,
    ParseReason,
    RegisterDecodeError,
    RegisterDecodeReason,
)
from firmware_bridge.fire.modbus_map import DetectorReading, decode_registers, heartbeat_delta
from firmware_bridge.fire.modbus_source import (
    Detector,
    DetectorProblem,
    DetectorResult,
    DetectorSource,
    ModbusDetectorSource,
    ModbusRtuLink,
    ModbusTcpLink,
    PollCounters,
    ProblemReason,
    RegisterKind,
)
from firmware_bridge.fire.panel_parser import (
    DeviceAddress,
    PanelEvent,
    PanelEventKind,
    format_line,
    parse_line,
)
from firmware_bridge.fire.panel_source import (
    LineEnding,
    PanelCounters,
    PanelPortSettings,
    PanelSource,
    SerialPanelSource,
)

__all__ = [
    "DecodeError",
    "Detector",
    "DetectorProblem",
    "DetectorReading",
    "DetectorResult",
    "DetectorSource",
    "DeviceAddress",
    "LineEnding",
    "ModbusDetectorSource",
    "ModbusRtuLink",
    "ModbusTcpLink",
    "PanelCounters",
    "PanelEvent",
    "PanelEventKind",
    "PanelPortSettings",
    "PanelSource",
    "ParseError",
    "ParseReason",
    "PollCounters",
    "ProblemReason",
    "RegisterDecodeError",
    "RegisterDecodeReason",
    "RegisterKind",
    "SerialPanelSource",
    "decode_registers",
    "format_line",
    "heartbeat_delta",
    "parse_line",
]
