"""The demo's edge boxes: a canteen checkout box replaying a recorded tray slot, and a
fire box polling simulated detectors in Lane 800's stairwell.

Each box is the real ``tianshan edge --config FILE`` with a config written here; ids and
zones match ``docs/sitemap.example.toml``, so alerts land on the console's map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.checkout.scenes import TRUTH_FILE, write_scene

ROOT = Path(__file__).resolve().parents[1]
SITE_MAP = ROOT / "docs" / "sitemap.example.toml"
PRICES = ROOT / "docs" / "prices.example.toml"

CHECKOUT_BOX = "canteen-checkout-1"
FIRE_BOX = "fire-lane800"
FIRE_ZONE = "L800-1-3F"
#: Detector id (as on the site map) → Modbus unit on the simulated line.
FIRE_DETECTORS = {"L800-1-3F-S1": 1, "L800-1-3F-S2": 2, "L800-1-3F-H1": 3}
#: Held-out tray seeds (the model never trained on them) for the recorded slot.
SCENE_SEEDS = range(2_002_000, 2_002_024)


@dataclass(frozen=True)
class DemoBoxes:
    checkout_config: Path
    fire_config: Path
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
    return DemoBoxes(checkout, fire, kiosk_port)
