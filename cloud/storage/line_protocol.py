"""Wire messages → InfluxDB line protocol.

Written by hand rather than with influxdb-client's ``Point`` because the ingest builds
~100,000 lines a second and ``Point`` costs several microseconds each; the tests check
this module against ``Point`` for equivalence.

Measurement ``telemetry`` has one field per reading name and tags ``device`` plus the
reading's own tags, so a point is identified by (device, tags, time) and a redelivered
reading overwrites itself instead of counting twice.
"""

from __future__ import annotations

from wire import Event, State, Telemetry
from wire.checkout import CheckoutTransaction

TELEMETRY = "telemetry"
EVENTS = "events"
CHECKOUT = "checkout"
DEVICE_STATE = "device_state"

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\"})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\"})


def escape_tag(value: str) -> str:
    """Escape a tag key or value (also valid for field keys)."""
    return value.translate(_TAG_ESCAPES)


def quote_string(value: str) -> str:
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def _tagset(tags: dict[str, str]) -> str:
    return "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()))


def telemetry_lines(message: Telemetry) -> list[str]:
    # Device ids, field names and tag values are restricted by the wire patterns to
    # characters that need no escaping; escape anyway where a pattern allows "\".
    device = message.device_id
    prefix = f"{TELEMETRY},device={device}"
    lines = []
    for r in message.readings:
        # Tags in sorted order (InfluxDB's canonical form), "device" among them.
        tags = f"{TELEMETRY}{_tagset(r.tags | {'device': device})}" if r.tags else prefix
        lines.append(f"{tags} {r.field}={r.value!r} {r.ts * 1000}")
    return lines


def event_line(event: Event) -> str:
    tags = {"device": event.device_id, "type": event.type, "severity": event.severity.value}
    if event.source:
        tags["source"] = event.source
    fields = f"msg_id={quote_string(event.msg_id)},seq={event.seq}i"
    return f"{EVENTS}{_tagset(tags)} {fields} {event.ts * 1000}"


def state_line(state: State) -> str:
    fields = [
        f"uptime_s={float(state.uptime_s)!r}",
        f"outbox_depth={sum(state.outbox.depth.values())}i",
        f"outbox_bytes={state.outbox.bytes}i",
        f"dropped_readings={state.outbox.dropped_readings}i",
        f"dropped_messages={state.outbox.dropped_messages}i",
    ]
    if state.config_version is not None:
        fields.append(f"config_version={state.config_version}i")
    return f"{DEVICE_STATE},device={state.device_id} {','.join(fields)} {state.ts * 1000}"


def checkout_line(event: Event, tx: CheckoutTransaction) -> str:
    """One point per transaction at the time the box settled it: redelivered, or sent
    again by a box that crashed before it knew, it is the same point."""
    tags = {
        "device": event.device_id,
        "site": tx.site or "-",
        "mode": tx.mode,
        "needs_staff": "true" if tx.needs_staff else "false",
    }
    fields = (
        f"total_fen={tx.total_fen}i,items={len(tx.items)}i,confidence={float(tx.confidence)!r},"
        f"transaction_id={quote_string(tx.transaction_id)}"
    )
    ts = tx.settled_ts if tx.settled_ts is not None else event.ts
    return f"{CHECKOUT}{_tagset(tags)} {fields} {ts * 1000}"
