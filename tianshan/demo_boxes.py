"""The demo's edge boxes: a canteen checkout box replaying a recorded tray slot, a fire
box polling simulated detectors in Lane 800's stairwell, and the office towers' parking
box replaying the recorded hour of Bluetooth studs (ten times as fast).

Each box is the real ``tianshan edge --config FILE`` with a config written here; ids and
zones match ``docs/sitemap.example.toml``, so alerts land on the console's map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.checkout.scenes import TRUTH_FILE, write_scene
from firmware_bridge.ble.truth import load_truth

ROOT = Path(__file__).resolve().parents[1]
SITE_MAP = ROOT / "docs" / "sitemap.example.toml"
PRICES = ROOT / "docs" / "prices.example.toml"
CAPTURE = ROOT / "firmware_bridge" / "ble" / "capture"

CHECKOUT_BOX = "canteen-checkout-1"
#: The demo kiosk's staff PIN (a real box sets its own: checkout.staff_pin).
KIOSK_PIN = "2468"
FIRE_BOX = "fire-lane800"
PARKING_BOX = "parking-towers"
#: Capture seconds per real second: the recorded hour plays in six minutes.
PARKING_SPEED = 10
FIRE_ZONE = "L800-1-3F"
#: Detector id (as on the site map) → Modbus unit on the simulated line.
FIRE_DETECTORS = {"L800-1-3F-S1": 1, "L800-1-3F-S2": 2, "L800-1-3F-H1": 3}
#: Held-out tray seeds (the model never trained on them) for the recorded slot.
SCENE_SEEDS = range(2_002_000, 2_002_024)


@dataclass(frozen=True)
class DemoBoxes:
    checkout_config: Path
    fire_config: Path
    parking_config: Path
    kiosk_port: int


def record_scene(folder: Path) -> None:
    """The recorded tray slot, written once (it takes a few seconds) and kept."""
    if (folder / TRUTH_FILE).exists():
        return
    write_scene(folder, SCENE_SEEDS, resting=20, scene_seed=11)


def _box_header(data: Path, device_id: str, *, kind: str, site: str, mqtt_port: int) -> str:
    """The sections every demo box has: identity, broker, its own outbox and state."""
    return f"""# written by tianshan demo
state_dir = "{data / device_id}"
[device]
id = "{device_id}"
kind = "{kind}"
site = "{site}"
[mqtt]
port = {mqtt_port}
[outbox]
path = "{data / device_id / "outbox.sqlite"}"
"""


def write_box_configs(
    data: Path, *, mqtt_port: int, modbus_port: int, kiosk_port: int
) -> DemoBoxes:
    scene = data / "checkout-scene"
    record_scene(scene)
    checkout = data / "checkout-box.toml"
    header = _box_header(
        data, CHECKOUT_BOX, kind="checkout", site="tianshan-road-canteen", mqtt_port=mqtt_port
    )
    checkout.write_text(
        header
        + f"""[checkout]
source = "folder:{scene}"
fps = 6
loop = true
prices_file = "{PRICES}"
kiosk_port = {kiosk_port}
staff_pin = "{KIOSK_PIN}"
"""
    )
    detectors = "".join(
        f"""[[fire.detectors]]
id = "{detector}"
zone = "{FIRE_ZONE}"
link = "lane800-gateway"
unit = {unit}
"""
        for detector, unit in FIRE_DETECTORS.items()
    )
    fire = data / "fire-box.toml"
    fire.write_text(
        _box_header(data, FIRE_BOX, kind="fire", site="lane800", mqtt_port=mqtt_port)
        + f"""[heartbeat]
interval_s = 10
[[fire.links]]
name = "lane800-gateway"
kind = "tcp"
port = {modbus_port}
poll_interval_s = 1
[[fire.zones]]
id = "{FIRE_ZONE}"
{detectors}"""
    )
    parking = data / "parking-box.toml"
    parking.write_text(
        _box_header(data, PARKING_BOX, kind="parking", site="towers", mqtt_port=mqtt_port)
        + _parking_sections()
    )
    return DemoBoxes(checkout, fire, parking, kiosk_port)


def _parking_sections() -> str:
    """The bays and no-parking zones the capture's studs belong to."""
    truth = load_truth(CAPTURE / "truth.json")
    text = f"""[parking.source]
kind = "replay"
path = "{CAPTURE / "adverts.csv.xz"}"
speed = {PARKING_SPEED}
"""
    for bay in truth.bays:
        text += f"""[[parking.bays]]
id = {bay.bay_id}
name = "{bay.name}"
capacity = {bay.capacity}
studs = {list(bay.stud_ids)}
"""
    for zone in truth.zones:
        text += f"""[[parking.zones]]
id = {zone.zone_id}
name = "{zone.name}"
studs = {list(zone.stud_ids)}
"""
    return text
