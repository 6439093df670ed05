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


def write_box_configs(
    data: Path, *, mqtt_port: int, modbus_port: int, kiosk_port: int
) -> DemoBoxes:
    scene = data / "checkout-scene"
    record_scene(scene)
    checkout = data / "checkout-box.toml"
    checkout.write_text(
        f"""# written by tianshan demo
state_dir = "{data / "checkout-box"}"
[device]
id = "{CHECKOUT_BOX}"
kind = "checkout"
site = "tianshan-road-canteen"
[mqtt]
port = {mqtt_port}
[outbox]
path = "{data / "checkout-box" / "outbox.sqlite"}"
[checkout]
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
        f"""# written by tianshan demo
state_dir = "{data / "fire-box"}"
[device]
id = "{FIRE_BOX}"
kind = "fire"
site = "lane800"
[mqtt]
port = {mqtt_port}
[outbox]
path = "{data / "fire-box" / "outbox.sqlite"}"
[heartbeat]
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
