"""Tests of the BLE parking-stud decoders, sources and capture generator."""
