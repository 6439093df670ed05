"""Parking end to end: the committed capture replayed (an hour in about 20 s) through a
parking box started by ``start_box`` → real Mosquitto → ingest → SQL → the API, whose
bays, studs and alerts are compared with the capture's ground truth."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.ingest.worker import IngestWorker
from edge.box import start_box
from edge.config import AgentConfig
from edge.parking.pipeline import ParkingPipeline
from firmware_bridge.ble.truth import GroundTruth, covers, load_truth
from tests.conftest import Service
from tianshan.servers.process import wait_until
from wire import parking as p

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAPTURE = Path(__file__).resolve().parents[2] / "firmware_bridge" / "ble" / "capture"
SPEED = 180.0  # capture seconds per real second: the hour in 20 s
AWAY_S, TICK_S, PARK_S, LEAVE_S = 60.0, 1.0, 15.0, 10.0


def parking_section(truth: GroundTruth, start: datetime) -> dict[str, object]:
    return {
        "source": {
            "kind": "replay",
            "path": str(CAPTURE / "adverts.csv.xz"),
            "speed": SPEED,
            "start_at": start.isoformat(),
        },
        "studs": {"away_timeout_s": AWAY_S, "park_s": PARK_S, "leave_s": LEAVE_S},
        "tick_s": TICK_S,
        "bays": [
            {"id": b.bay_id, "name": b.name, "capacity": b.capacity, "studs": list(b.stud_ids)}
            for b in truth.bays
        ],
        "zones": [
            {"id": z.zone_id, "name": z.name, "studs": list(z.stud_ids)} for z in truth.zones
        ],
    }


def bikes_at_end(truth: GroundTruth, bay_id: int) -> int:
    """Bikes the box must count when the capture ends: parked long enough to count, and
    not gone long enough to be let go (the same waits the box is configured with)."""
    end = truth.duration_s
    return sum(
        1
        for v in truth.visits
        if v.kind == "parked"
        and v.area == "bay"
        and v.area_id == bay_id
        and v.start <= end - PARK_S - 2
        and v.end >= end - LEAVE_S + 2
    )


def capture_time(at_us: int, start: datetime) -> float:
    return at_us / 1e6 - start.timestamp()


def test_the_replayed_capture_reaches_the_api_as_its_truth_says(
    edge_config: Callable[..., AgentConfig], ingest: IngestWorker, api: Service
) -> None:
    truth = load_truth(CAPTURE / "truth.json")
    start = datetime.now(UTC).replace(microsecond=0)
    config = edge_config(
        "parking-towers",
        device={"id": "parking-towers", "kind": "parking", "site": "towers"},
        telemetry={"max_readings": 1000, "max_age_s": 0.5},  # an hour of readings in 20 s
        parking=parking_section(truth, start),
    )
    box = start_box(config)
    try:
        (pipeline,) = [part for part in box.parts if isinstance(part, ParkingPipeline)]
        assert pipeline.finished.wait(90), "the replay did not end"
        assert box.agent.drain(30), "the box did not get everything out"
    finally:
        box.stop()

    end_us = int((start.timestamp() + truth.duration_s - 1) * 1e6)
    with api.client("viewer") as viewer:

        def final_state() -> bool:
            bays = viewer.get("/api/v1/parking/bays").json()
            return len(bays) == len(truth.bays) and all(
                b["as_of"] and datetime.fromisoformat(b["as_of"]).timestamp() * 1e6 >= end_us
                for b in bays
            )

        # The box's outbox is empty once the broker has everything; the ingest may still
        # be working through the hour's telemetry (on this machine's two shared cores).
        try:
            wait_until(final_state, timeout=90, what="the final snapshot in the API")
        except TimeoutError:
            behind = {b["bay_id"]: b["as_of"] for b in viewer.get("/api/v1/parking/bays").json()}
            pytest.fail(
                f"the API's bays did not reach the capture's end ({end_us} us): {behind}; "
                f"the last record at {pipeline.logic.us(pipeline.logic.heard or 0)} us; "
                "ingest: "
                + ", ".join(
                    f"{m.name} {s.labels or ''} {s.value:g}"
                    for m in ingest.metrics.registry.collect()
                    if not m.name.endswith("seconds")
                    for s in m.samples
                    if not s.name.endswith("_created")
                )
            )
        bays = {b["bay_id"]: b for b in viewer.get("/api/v1/parking/bays").json()}
        studs = {s["stud_id"]: s for s in viewer.get("/api/v1/parking/studs").json()}
        maintenance = viewer.get("/api/v1/parking/studs", params={"needs_maintenance": True})
        alerts = viewer.get("/api/v1/alerts", params={"state": "all", "category": "parking"})
    alerts_ = alerts.json()

    # Bays: the count the truth implies, capacity, studs healthy of total, on the map.
    end = truth.duration_s - 0.5
    for bay in truth.bays:
        got = bays[bay.bay_id]
        assert (got["bikes"], got["capacity"]) == (bikes_at_end(truth, bay.bay_id), bay.capacity)
        assert got["site"] == "towers"
        assert got["place"]["name"] == bay.name
        healthy = [
            s
            for s in (truth.stud(i) for i in bay.stud_ids)
            if covers(truth.alive(s.stud_id), end)
            and not covers(s.low_battery, end)
            and not covers(s.tampered, end)
        ]
        assert (got["studs_total"], got["studs_healthy"]) == (len(bay.stud_ids), len(healthy))
        assert got["over_capacity"] is False

    # Studs: online as the truth has them alive, battery, tamper, last seen.
    assert len(studs) == len(truth.studs)
    for stud in truth.studs:
        got = studs[stud.stud_id]
        alive = covers(truth.alive(stud.stud_id), end)
        assert got["online"] is alive, stud.stud_id
        assert got["tamper"] is covers(stud.tampered, end), stud.stud_id
        low = covers(stud.low_battery, end) or bool(stud.low_battery and stud.silent)
        assert got["low_battery"] is low, stud.stud_id
        assert got["battery_mv"] is not None
        last = capture_time(int(datetime.fromisoformat(got["last_seen"]).timestamp() * 1e6), start)
        if alive:
            assert last > truth.duration_s - 10
        else:
            assert last <= stud.silent[-1].start
    assert {s["stud_id"] for s in maintenance.json()} == {
        s.stud_id for s in truth.studs if s.silent or s.low_battery or s.tampered
    } - {2004, 3002}  # 2004 came back and 3002 was reset before the end

    # Alerts, category parking, through the same engine as fire.
    def alerts_of(type_: str, device: str) -> list[dict[str, Any]]:
        return [a for a in alerts_ if a["type"] == type_ and a["device"] == device]

    assert all(a["category"] == "parking" and a["site"] == "towers" for a in alerts_)
    for spell_bay in {o.bay_id for o in truth.overfill}:
        spells = [o for o in truth.overfill if o.bay_id == spell_bay]
        raised = alerts_of(p.OVER_CAPACITY, f"bay-{spell_bay}")
        assert len(raised) == len(spells)  # exactly one alert per overfill…
        for alert in raised:  # …cleared by the box once the bay was within capacity again
            assert alert["state"] == "cleared"
            assert alert["cleared_at"] is not None
    (bay3,) = alerts_of(p.OVER_CAPACITY, f"bay-{3}")
    assert bay3["count"] == 1
    for stud in (s for s in truth.studs if s.silent):
        (alert,) = alerts_of(p.STUD_OFFLINE, f"stud-{stud.stud_id}")
        reported = capture_time(alert["data"]["at_us"], start)
        assert stud.silent[0].start < reported <= stud.silent[0].start + AWAY_S + TICK_S
        back = stud.silent[0].end < truth.duration_s
        assert alert["open"] is not back
    assert {a["device"] for a in alerts_ if a["type"] == p.NO_PARKING} == {
        f"no-parking-{z.zone_id}" for z in truth.zones
    }
    assert len(alerts_of(p.TAMPER, "stud-3002")) == 1

    # The operations centre works them; the fire team may not.
    with api.client("operator") as operator, api.client("fire_team") as team:
        (dying,) = alerts_of(p.STUD_OFFLINE, "stud-4007")
        assert team.post(f"/api/v1/alerts/{dying['id']}/acknowledge").status_code == 403
        assert operator.post(f"/api/v1/alerts/{dying['id']}/acknowledge").status_code == 200
