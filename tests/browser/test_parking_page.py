"""The parking page in Chromium: bays drawn on the site map in their occupancy colour,
and the studs that need maintenance listed, from what a parking box sent."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect

from cloud.ingest.worker import IngestWorker
from tests.conftest import Service
from tianshan.servers.mosquitto import MosquittoServer
from wire import Event, encode, now_us
from wire import parking as p

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def send(broker: MosquittoServer, events: list[Event]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    for event in events:
        topic = f"tianshan/v1/dev/{event.device_id}/event"
        client.publish(topic, encode(event), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_bays_are_coloured_by_occupancy_and_broken_studs_listed(
    page: Page, broker: MosquittoServer, ingest: IngestWorker, api: Service
) -> None:
    at = now_us()
    studs = [
        p.StudState(stud=1001 + k, area="bay", area_id=1, online=True, battery_mv=2990)
        for k in range(3)
    ] + [
        p.StudState(stud=3001, area="bay", area_id=3, online=False, battery_mv=2950),
        p.StudState(stud=3002, area="bay", area_id=3, online=True, tamper=True, battery_mv=3000),
    ]
    snapshot = p.ParkingSnapshot(
        at_us=at,
        bays=[
            p.BayState(
                bay=1,
                name="Tower A north kerb",
                capacity=10,
                bikes=2,
                studs_total=3,
                studs_healthy=3,
            ),
            p.BayState(
                bay=3,
                name="Metro exit 5",
                capacity=10,
                bikes=12,
                studs_total=2,
                studs_healthy=0,
                over_capacity=True,
            ),
        ],
        studs=studs,
    )
    event = Event(
        device_id="parking-towers",
        seq=1,
        type=p.SNAPSHOT,
        source="parking",
        data=snapshot.model_dump(mode="json"),
    )
    send(broker, [event])

    page.goto(f"{api.base_url}/parking#token={api.tokens['viewer']}")
    expect(page.locator("g.bay.full[data-bay='3']")).to_be_visible()
    expect(page.locator("g.bay.free[data-bay='1']")).to_be_visible()
    expect(page.locator("g.bay[data-bay='3'] text")).to_have_text("3 · 12/10")
    rows = page.locator("#studs tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#studs tr[data-stud='3001']")).to_contain_text("offline")
    expect(page.locator("#studs tr[data-stud='3002']")).to_contain_text("tampered")
    expect(page.locator("#bays")).to_contain_text("0/2")

    page.goto(f"{api.base_url}/")
    page.get_by_role("link", name="bike parking").click()
    expect(page).to_have_url(f"{api.base_url}/parking")
