"""The fire-linkage console in Chromium: a new alarm appears (with its cue), the team
acknowledges and dispatches from the page, and a console cut off during an alarm shows
it once it is back."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Page, expect

from cloud.ingest.worker import IngestWorker
from cloud.storage.alerts import list_alerts
from tests.conftest import Service
from tests.helpers import look
from tianshan.servers.mosquitto import MosquittoServer
from tianshan.servers.process import wait_until
from wire import Event, Severity, encode
from wire import fire as f

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ZONE = "L800-1-3F"


def alarm(broker: MosquittoServer, detector: str, seq: int) -> None:
    """What the fire box sends when a detector alarms."""
    data = f.FireAlarm(
        zone=ZONE, detector=detector, cause=f.Cause.OBSCURATION, value=4.1, threshold=3.0
    )
    event = Event(
        device_id="fire-lane800",
        seq=seq,
        type=f.ALARM,
        severity=Severity.CRITICAL,
        source=detector,
        data=data.model_dump(mode="json"),
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.publish("tianshan/v1/dev/fire-lane800/event", encode(event), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def open_console(page: Page, api: Service) -> None:
    page.goto(f"{api.base_url}/console#token={api.tokens['fire_team']}")
    expect(page.locator("#link")).to_have_text("● live")


def test_a_new_alarm_shows_with_its_cue_and_is_worked_from_the_console(
    page: Page,
    broker: MosquittoServer,
    ingest: IngestWorker,
    api: Service,
) -> None:
    open_console(page, api)
    expect(page.locator("#alerts")).to_contain_text("No active alerts")
    alarm(broker, "L800-1-3F-S1", 1)
    card = page.locator(".alert.critical", has_text="Fire alarm: Lane 800 Tianshan Rd, No. 1 3F")
    expect(card).to_be_visible()
    first = card.locator(".age").inner_text()
    expect(card.locator(".age")).not_to_have_text(first, timeout=5000)  # the age timer runs
    assert page.evaluate("window.tianshanConsole.beeps") >= 1  # the audible cue played

    card.click()
    page.get_by_role("button", name="Acknowledge").click()
    expect(card).to_contain_text("acknowledged")
    page.locator("#detail input[value='st-lane800']").check()
    page.locator("#detail input[value='st-mall']").check()
    page.get_by_role("button", name="Dispatch selected").click()
    expect(page.locator("#detail")).to_contain_text("st-mall")
    expect(card).to_contain_text("dispatched")
    with api.client("fire_team") as team:
        (current,) = team.get("/api/v1/alerts").json()
        dispatched = {d["station_id"] for d in team.get("/api/v1/dispatches").json()}
    assert current["state"] == "dispatched"
    assert current["acknowledged_by"] == "fire_team:test-fire_team"
    assert dispatched == {"st-lane800", "st-mall"}


def test_a_console_cut_off_during_an_alarm_shows_it_when_it_is_back(
    page: Page,
    broker: MosquittoServer,
    ingest: IngestWorker,
    api: Service,
) -> None:
    open_console(page, api)
    alarm(broker, "L800-1-3F-S1", 1)
    expect(page.locator(".alert", has_text="L800-1-3F-S1")).to_be_visible()

    api.stop()  # the console loses its server…
    expect(page.locator("#link")).to_contain_text("reconnecting")
    alarm(broker, "L800-1-3F-S2", 2)  # …while a second detector alarms (the ingest records it)
    wait_until(
        lambda: len(look(ingest.readers, list_alerts)) == 2,
        timeout=20,
        what="the second alarm in SQL while the console is cut off",
    )
    api.start()  # back on the same address

    expect(page.locator("#link")).to_have_text("● live", timeout=30_000)
    expect(page.locator(".alert", has_text="L800-1-3F-S2")).to_be_visible()
    expect(page.locator(".alert", has_text="L800-1-3F-S1")).to_be_visible()
