"""Bluetooth LE parking studs: decoders for what they (and beacons around them) advertise,
and sources of advertisements, live or replayed.

- ``advert``: :func:`decode_advertisement`, the one entry point (never raises).
- ``readings``: the typed results; ``skips``: skip reasons, counter, ``DecodeError``.
- ``stud_frame``, ``ibeacon``, ``eddystone``: strict decoders and encoders per format;
  ``ad``: AD structures; ``crc8``: the stud frame's check.
- ``source``: :class:`AdvertisementRecord` and the :class:`AdvertisementSource` Protocol;
  ``replay``: a capture file replayed; ``bleak_source``: BlueZ through bleak (optional
  extra ``ble``, imported only when used).
- ``capture_file``: the capture format; ``capture``: the generator of a simulated capture
  and ``truth`` its ground truth; ``bench``: the decode-rate benchmark.

The names below are the API the edge logic builds on; the bleak source and the capture
generator are imported from their modules.
"""

from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.readings import (
    AreaKind,
    DecodedAdvert,
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    Reading,
    StudStatus,
)
from firmware_bridge.ble.replay import ReplaySource
from firmware_bridge.ble.skips import DecodeError, SkipCounts, SkipReason
from firmware_bridge.ble.source import AdvertisementRecord, AdvertisementSource
from firmware_bridge.ble.stud_frame import seq_distance

__all__ = [
    "AdvertisementRecord",
    "AdvertisementSource",
    "AreaKind",
    "DecodeError",
    "DecodedAdvert",
    "EddystoneTlm",
    "EddystoneUid",
    "IBeacon",
    "Reading",
    "ReplaySource",
    "SkipCounts",
    "SkipReason",
    "StudStatus",
    "decode_advertisement",
    "seq_distance",
]
