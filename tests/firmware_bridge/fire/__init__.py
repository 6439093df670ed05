"""Tests of firmware_bridge.fire: decoders, sources against real servers and ptys, simulators."""
