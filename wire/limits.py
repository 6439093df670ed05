"""Size limits of the contract, enforced by the edge (encode) and the cloud (decode)."""

from __future__ import annotations

from typing import Final

SCHEMA_VERSION: Final = 1

# One MQTT payload. The broker is configured with a larger hard limit so that a
# moderately oversize message still reaches the ingest and is kept for inspection.
MAX_PAYLOAD_BYTES = 256 * 1024

# Readings in one telemetry message (a JSON reading is ~60 bytes, so 4,000 fit).
MAX_READINGS_PER_MESSAGE = 4000

MAX_TAGS_PER_READING = 8
MAX_REASON_CHARS = 500

# Timestamps are integer microseconds since the Unix epoch (UTC). InfluxDB keeps
# nanoseconds in a signed 64-bit integer, which ends in April 2262.
MAX_TIMESTAMP_US = (2**63 - 1) // 1000
