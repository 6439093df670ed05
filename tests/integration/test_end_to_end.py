"""Simulated devices → real Mosquitto → ingest → real influxd → API: exactly what was sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from edge.sim import FIELDS
from tests.conftest import Service
from tests.helpers import count_readings, expected_readings, load_summary
from tianshan.servers.influxdb import InfluxServer
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until

pytestmark = pytest.mark.integration

DEVICES, COUNT = 3, 600


def iso(ts_us: int) -> str:
    return datetime.fromtimestamp(ts_us / 1e6, UTC).isoformat()


def test_api_returns_exactly_what_the_devices_sent(
    tmp_path: Path,
    broker: MosquittoServer,
    influx: InfluxServer,
    ingest: IngestWorker,
    api: Service,
    spawn: Callable[..., Service],
) -> None:
    summary_path = tmp_path / "summary.json"
    sim = spawn(
        "sim",
        "sim",
        "--devices",
        str(DEVICES),
        "--rate",
        "400",
        "--count",
        str(COUNT),
        "--broker",
        f"127.0.0.1:{broker.port}",
        "--data-dir",
        str(tmp_path / "sim"),
        "--batch",
        "64",
        "--batch-age",
        "0.1",
        "--summary",
        str(summary_path),
    )
    assert sim.proc is not None
    assert sim.proc.wait(120) == 0, sim.tail()
    database = ingest.settings.influx.database
    wait_until(
        lambda: count_readings(influx, database) >= DEVICES * COUNT,
        timeout=30,
        what="every reading in InfluxDB",
    )
    summary = load_summary(summary_path)

    with api.client("viewer", timeout=30) as client:
        for index, (device, info) in enumerate(sorted(summary["devices"].items())):
            assert info["readings_generated"] == COUNT
            assert info["outbox_depth"] == 0
            expected = set(
                expected_readings(
                    index, t0_us=info["t0_us"], period_us=info["period_us"], count=COUNT
                )
            )
            start = iso(info["t0_us"] - 1_000_000)
            end = iso(info["t0_us"] + COUNT * info["period_us"] + 1_000_000)
            got: list[tuple[int, str, float]] = []
            for field in FIELDS:
                response = client.get(
                    "/api/v1/telemetry",
                    params={
                        "device": device,
                        "field": field,
                        "start": start,
                        "end": end,
                        "limit": 100000,
                    },
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["truncated"] is False
                for series in body["series"]:
                    assert series["device"] == device
                    got.extend((p["ts_us"], field, p["value"]) for p in series["points"])
            assert len(got) == COUNT  # nothing twice
            assert set(got) == expected  # nothing missing, nothing changed

            # Aggregation: the per-window counts add up to what was sent.
            response = client.get(
                "/api/v1/telemetry",
                params={
                    "device": device,
                    "field": "temperature",
                    "start": start,
                    "end": end,
                    "window": "1s",
                    "aggregate": "count",
                },
            )
            counts = [p["value"] for s in response.json()["series"] for p in s["points"]]
            assert sum(counts) == COUNT // len(FIELDS)

        devices = {d["device_id"]: d for d in client.get("/api/v1/devices").json()}
        assert set(devices) == set(summary["devices"])
        for device in devices.values():
            assert device["kind"] == "sim"
            assert device["software"] == "tianshan-sim/1"
            assert device["last_seq"] >= COUNT // 64
            assert device["online"] is False  # the sim said goodbye when it finished
            assert device["silent"] is False


def test_api_validates_queries(api: Service) -> None:
    with api.client("viewer") as client:
        assert client.get("/api/v1/telemetry", params={"field": "Bad Field"}).status_code == 422
        assert (
            client.get("/api/v1/telemetry", params={"field": "t", "device": "a/b"}).status_code
            == 422
        )
        now = datetime.now(UTC)
        backwards = {
            "field": "t",
            "start": now.isoformat(),
            "end": (now - timedelta(1)).isoformat(),
        }
        assert client.get("/api/v1/telemetry", params=backwards).status_code == 422
        too_fine = {"field": "t", "window": "1ms", "start": (now - timedelta(days=30)).isoformat()}
        assert client.get("/api/v1/telemetry", params=too_fine).status_code == 422
        # InfluxDB would overflow on this duration; the API refuses it before asking.
        too_wide = client.get("/api/v1/telemetry", params={"field": "t", "window": "232978w"})
        assert too_wide.status_code == 422
        assert "at most 366d" in too_wide.text
        a_year = client.get("/api/v1/telemetry", params={"field": "t", "window": "52w"})
        assert a_year.status_code == 200, a_year.text
        assert client.get("/api/v1/devices/nobody").status_code == 404
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready"
        assert set(ready["checks"]) == {"broker", "influxdb", "sql"}
        assert "/api/v1/telemetry" in client.get("/openapi.json").json()["paths"]
        assert client.get("/docs").status_code == 200
