"""Parking benchmark: ``python -m bench.parking`` (``make bench-parking``).

Advertisements decoded AND processed by the box's parking logic per second, on one core:
the committed capture (220,923 records of 66 studs, phones and beacons over an hour) is
read into memory first, then fed through a fresh :class:`ParkingLogic` (decode, stud and
bay state, events and readings taken as the pipeline does) several times; the median
run is the figure. File reading, MQTT and the outbox are not in it. Not a test: it
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

from bench.common import load_average
from edge.config import ParkingConfig
from edge.parking.logic import ParkingLogic
from firmware_bridge.ble import AdvertisementRecord, ReplaySource
from firmware_bridge.ble.truth import load_truth

COMMAND = "python -m bench.parking"
CAPTURE = Path(__file__).resolve().parents[1] / "firmware_bridge" / "ble" / "capture"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _config() -> ParkingConfig:
    truth = load_truth(CAPTURE / "truth.json")
    return ParkingConfig.model_validate(
        {
            "source": {"kind": "replay", "path": str(CAPTURE / "adverts.csv.xz"), "speed": 0},
            "bays": [
                {"id": b.bay_id, "name": b.name, "capacity": b.capacity, "studs": list(b.stud_ids)}
                for b in truth.bays
            ],
            "zones": [
                {"id": z.zone_id, "name": z.name, "studs": list(z.stud_ids)} for z in truth.zones
            ],
        }
    )


def run_once(records: list[AdvertisementRecord], config: ParkingConfig) -> tuple[float, int]:
    """Seconds to feed every record through a fresh logic, and the events it made."""
    logic = ParkingLogic(config)
    feed, take = logic.feed, logic.take
    events = 0
    began = time.perf_counter()
    for record in records:
        feed(record)
        if logic.events:
            events += len(take()[0])
    logic.finish()
    elapsed = time.perf_counter() - began
    return elapsed, events + len(logic.take()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    config = _config()
    records = list(ReplaySource(CAPTURE / "adverts.csv.xz", speed=None).records())
    rates, events = [], 0
    for _ in range(args.runs):
        seconds, events = run_once(records, config)
        rates.append(len(records) / seconds)
    median = statistics.median(rates)
    print("### Parking: advertisements decoded and processed (bench.parking)\n")
    print(f"- machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"- input: the committed capture, {len(records):,} advertisements, in memory")
    print(f"- one core, {args.runs} runs, {events} events per run, load {load_average()}")
    print(f"- **median {median:,.0f} advertisements/s** ({1e6 / median:.2f} µs each)")
    print(f"- runs: {', '.join(f'{r:,.0f}' for r in rates)}")
    print(f"- target: 50,000/s; reproduce with `{COMMAND}` (`make bench-parking`)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
