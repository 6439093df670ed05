"""How fast :func:`decode_advertisement` runs on a realistic mix (a tool, not a test):

    python -m firmware_bridge.ble.bench [--seconds S]

The mix is what a box by the bays hears: mostly stud status frames, some iBeacon and
Eddystone frames from the studs that send them, and phones', laptops' and other
beacons' advertisements that are skipped and counted."""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from uuid import UUID

from firmware_bridge.ble.ad import (
    AD_MANUFACTURER_DATA,
    AD_SERVICE_DATA_16,
    AD_TX_POWER,
    FLAGS_LE_ONLY,
    ad_structure,
)
from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.eddystone import UUID_LIST_AD, encode_eddystone_tlm, encode_eddystone_uid
from firmware_bridge.ble.ibeacon import encode_ibeacon
from firmware_bridge.ble.readings import AreaKind, EddystoneTlm, EddystoneUid, IBeacon, StudStatus
from firmware_bridge.ble.skips import SkipCounts
from firmware_bridge.ble.stud_frame import encode_stud_status

MIX = {"stud": 0.74, "ibeacon": 0.08, "tlm": 0.06, "uid": 0.02, "foreign": 0.10}
"""Shares of the benchmark's payloads, close to the generated capture's."""


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Decodes done and the time they took."""

    decodes: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.decodes / self.seconds

    @property
    def microseconds(self) -> float:
        """Mean cost of one decode."""
        return 1e6 * self.seconds / self.decodes


def realistic_mix(n: int = 2000, seed: int = 7) -> list[bytes]:
    """``n`` advertising payloads in the proportions of :data:`MIX`, shuffled."""
    rng = random.Random(seed)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=n)
    uuid = UUID(int=rng.getrandbits(128))
    out = []
    for kind in kinds:
        stud_id = rng.randrange(1000, 7000)
        if kind == "stud":
            status = StudStatus(
                stud_id,
                AreaKind.BAY,
                stud_id // 1000,
                rng.random() < 0.5,
                rng.random() < 0.01,
                round(rng.uniform(-1, 20), 1),
                rng.randint(2400, 3100),
                rng.randrange(65536),
            )
            out.append(FLAGS_LE_ONLY + encode_stud_status(status))
        elif kind == "ibeacon":
            out.append(FLAGS_LE_ONLY + encode_ibeacon(IBeacon(uuid, 3, stud_id, -67)))
        elif kind == "tlm":
            tlm = EddystoneTlm(2950, 15.5, rng.randrange(10**6), rng.uniform(0, 10**6))
            out.append(FLAGS_LE_ONLY + UUID_LIST_AD + encode_eddystone_tlm(tlm))
        elif kind == "uid":
            uid = EddystoneUid(-22, bytes(10), stud_id.to_bytes(6, "big"))
            out.append(FLAGS_LE_ONLY + UUID_LIST_AD + encode_eddystone_uid(uid))
        else:  # a phone's Apple Nearby frame, another company, someone's service data
            foreign = rng.choice(
                (
                    ad_structure(
                        AD_MANUFACTURER_DATA, b"\x4c\x00\x10\x05\x01\x18" + rng.randbytes(3)
                    )
                    + ad_structure(AD_TX_POWER, b"\x0c"),
                    ad_structure(AD_MANUFACTURER_DATA, b"\x06\x00\x03\x00\x80" + rng.randbytes(4)),
                    ad_structure(AD_SERVICE_DATA_16, b"\x0d\x18\x48"),
                )
            )
            out.append(FLAGS_LE_ONLY + foreign)
    return out


def benchmark_decode(seconds: float = 1.0, payloads: list[bytes] | None = None) -> BenchResult:
    """Decode ``payloads`` (default: :func:`realistic_mix`) round and round for about
    ``seconds``, counting skips as a box would; returns decodes and time taken."""
    payloads = payloads if payloads is not None else realistic_mix()
    counts = SkipCounts()
    decode = decode_advertisement
    done = 0
    began = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for data in payloads:
            decode(data, counts)
        done += len(payloads)
        elapsed = time.perf_counter() - began
    return BenchResult(done, elapsed)


def main() -> None:
    """Command line: print the decode rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    result = benchmark_decode(args.seconds)
    print(f"{result.per_second:,.0f} decodes/s ({result.microseconds:.2f} µs each)")


if __name__ == "__main__":
    main()
