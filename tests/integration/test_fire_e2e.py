"""Fire end to end: simulated Modbus detectors → edge fire pipeline → real Mosquitto →
ingest → SQL → API → WebSocket console; and the people's side of an incident."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from cloud.ingest.worker import IngestWorker
from edge.agent import EdgeAgent
from edge.config import AgentConfig
from edge.fire.pipeline import FirePipeline
from firmware_bridge.fire import Detector, ModbusDetectorSource, ModbusTcpLink
from firmware_bridge.fire.sim import DetectorSimulator
from tests.conftest import STATION, Service
from tianshan.servers.process import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ZONE = "L800-1-3F"
DETECTORS = {"L800-1-3F-S1": 1, "L800-1-3F-S2": 2, "L800-1-3F-H1": 3}


class Console:
    """A WebSocket console: sends the hello, keeps every message it receives."""

    def __init__(self, api: Service, token: str, after: int = 0) -> None:
        url = api.base_url.replace("http://", "ws://") + "/ws/alerts"
        self._stack = contextlib.ExitStack()
        self.ws: ClientConnection = self._stack.enter_context(connect(url, open_timeout=10))
        self.ws.send(json.dumps({"token": token, "after": after}))
        self.messages: list[dict[str, Any]] = []

    def pump(self, seconds: float = 0.2) -> None:
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self.messages.append(json.loads(self.ws.recv(timeout=remaining)))
            except TimeoutError:
                return

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20
    ) -> dict[str, Any]:
        def found() -> bool:
            self.pump(0.1)
            return any(predicate(m) for m in self.messages)

        wait_until(found, timeout=timeout, what=what)
        return next(m for m in self.messages if predicate(m))

    @property
    def last_id(self) -> int:
        return max((m["id"] for m in self.messages if m.get("type") == "alert_event"), default=0)

    def close(self) -> None:
        self._stack.close()


def change(
    kind: str, *, device: str | None = None, type_: str | None = None
) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m.get("type") == "alert_event"
            and m["kind"] == kind
            and (device is None or m["alert"]["device"] == device)
            and (type_ is None or m["alert"]["type"] == type_)
        )

    return match


@pytest.fixture
def fire_box(
    edge_config: Callable[..., AgentConfig],
) -> Iterator[tuple[DetectorSimulator, FirePipeline]]:
    with DetectorSimulator(list(DETECTORS.values()), seed=3) as sim:
        port = sim.start_tcp(port=0)
        config = edge_config(
            "fire-lane800",
            device={"id": "fire-lane800", "kind": "fire", "site": "lane800"},
            fire={
                "links": [{"name": "sim", "kind": "tcp", "port": port, "poll_interval_s": 0.3}],
                "detectors": [
                    {"id": d, "zone": ZONE, "link": "sim", "unit": u} for d, u in DETECTORS.items()
                ],
                "defaults": {"restore_s": 1, "comm_timeout_s": 3},
            },
        )
        agent = EdgeAgent(config)
        source = ModbusDetectorSource(
            ModbusTcpLink("127.0.0.1", port),
            [Detector(d, u) for d, u in DETECTORS.items()],
            poll_interval_s=0.3,
            timeout_s=0.3,
        )
        assert config.fire is not None
        pipeline = FirePipeline(agent, config.fire, detector_sources=[source])
        agent.start()
        pipeline.start()
        yield sim, pipeline
        pipeline.stop()
        agent.stop()


def test_an_alarm_reaches_the_console_and_the_team_works_it(
    fire_box: tuple[DetectorSimulator, FirePipeline],
    ingest: IngestWorker,
    api: Service,
) -> None:
    sim, _ = fire_box
    console = Console(api, api.tokens["fire_team"])
    console.wait_for(lambda m: m.get("type") == "caught_up", "the backlog")

    sim.set_obscuration(DETECTORS["L800-1-3F-S1"], 4.0)  # past the 3 %/m alarm
    opened = console.wait_for(
        change("opened", device="L800-1-3F-S1", type_="fire.alarm"),
        "the first alarm on the console",
    )
    alert = opened["alert"]
    assert alert["severity"] == "critical"
    assert alert["site"] == "lane800"
    assert "Lane 800 Tianshan Rd, No. 1 3F" in alert["title"]

    sim.set_obscuration(DETECTORS["L800-1-3F-S2"], 4.2)  # a second detector: confirmed
    console.wait_for(change("confirmed", device="L800-1-3F-S1"), "GB 50116 confirmation")

    with (
        api.client("fire_team") as team,
        api.client("station") as station,
        api.client("viewer") as viewer,
    ):
        detail = team.get(f"/api/v1/alerts/{alert['id']}").json()
        proposal = [p["station_id"] for p in detail["proposal"]]
        assert proposal[:2] == ["st-lane800", "st-mall"]  # nearest of both kinds
        assert viewer.post(f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 403
        assert team.post(f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 200
        console.wait_for(change("acknowledged", device="L800-1-3F-S1"), "the acknowledgement")
        made = team.post(
            f"/api/v1/alerts/{alert['id']}/dispatch", json={"stations": ["st-lane800", "st-mall"]}
        )
        assert made.status_code == 200, made.text
        console.wait_for(change("dispatched", device="L800-1-3F-S1"), "the dispatch")
        mine = station.get("/api/v1/dispatches").json()
        assert [d["station_id"] for d in mine] == [STATION]  # a station sees its own only
        other = next(d for d in made.json() if d["station_id"] != STATION)
        assert station.post(f"/api/v1/dispatches/{other['id']}/acknowledge").status_code == 403
        assert station.post(f"/api/v1/dispatches/{mine[0]['id']}/acknowledge").status_code == 200
        console.wait_for(change("station_acknowledged"), "the station on its way")
        counts = {"moved": 60, "settled": 52, "counted": 58, "injured": 1}
        assert (
            station.put(f"/api/v1/alerts/{alert['id']}/headcount/L800-1", json=counts).status_code
            == 200
        )
        totals = team.get(f"/api/v1/alerts/{alert['id']}").json()["headcount_totals"]
        assert totals == counts
        assert (
            team.post(
                f"/api/v1/alerts/{alert['id']}/resolve", json={"note": "cooking smoke"}
            ).status_code
            == 200
        )
        console.wait_for(change("resolved", device="L800-1-3F-S1"), "the resolution")
        history = [h["kind"] for h in team.get(f"/api/v1/alerts/{alert['id']}").json()["history"]]
        assert history[:2] == ["opened", "confirmed"]
        assert history[-1] == "resolved"
    console.close()


def test_a_console_that_reconnects_gets_what_it_missed(
    fire_box: tuple[DetectorSimulator, FirePipeline],
    ingest: IngestWorker,
    api: Service,
) -> None:
    sim, _ = fire_box
    console = Console(api, api.tokens["viewer"])
    console.wait_for(lambda m: m.get("type") == "caught_up", "the backlog")
    sim.set_obscuration(DETECTORS["L800-1-3F-S1"], 4.0)
    console.wait_for(change("opened", device="L800-1-3F-S1"), "the first alarm")
    seen = console.last_id
    console.close()  # the console drops off during the incident…

    sim.set_temperature(DETECTORS["L800-1-3F-H1"], 70.0)  # …and the heat detector alarms
    sim.set_responding(DETECTORS["L800-1-3F-S2"], False)  # …and one detector falls silent
    with api.client("viewer") as viewer:
        wait_until(
            lambda: (
                {(a["device"], a["type"]) for a in viewer.get("/api/v1/alerts").json()}
                >= {("L800-1-3F-H1", "fire.alarm"), ("L800-1-3F-S2", "fire.trouble.comm_lost")}
            ),
            timeout=30,
            what="the alarm and the trouble in the cloud",
        )

    again = Console(api, api.tokens["viewer"], after=seen)  # resumes where it was
    again.wait_for(lambda m: m.get("type") == "caught_up", "the missed changes")
    missed = [
        (m["kind"], m["alert"]["device"], m["alert"]["type"])
        for m in again.messages
        if m.get("type") == "alert_event"
    ]
    assert all(m["id"] > seen for m in again.messages if m.get("type") == "alert_event")
    assert ("opened", "L800-1-3F-H1", "fire.alarm") in missed
    assert ("opened", "L800-1-3F-S2", "fire.trouble.comm_lost") in missed
    # The two alarms in one zone confirm it for linkage.
    assert any(k == "confirmed" for k, _, _ in missed)
    again.close()


def test_a_console_must_say_who_it_is(api: Service) -> None:
    url = api.base_url.replace("http://", "ws://") + "/ws/alerts"
    with connect(url) as ws:
        ws.send(json.dumps({"token": "tsn_wrong", "after": 0}))
        with pytest.raises(Exception, match="4401"):
            ws.recv(timeout=5)
