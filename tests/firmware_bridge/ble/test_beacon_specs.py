"""iBeacon and Eddystone decoders, byte for byte against the published layouts.

Every frame here is written out by hand from the layout tables (Apple's iBeacon
advertisement; Google's Eddystone protocol specification, eddystone-uid and
eddystone-tlm/tlm-plain), and every expected value is worked out from those tables in
the comments, not taken from our decoder."""

from __future__ import annotations

from uuid import UUID

import pytest

from firmware_bridge.ble.ad import parse_ad_structures
from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.eddystone import (
    decode_eddystone,
    encode_eddystone_tlm,
    encode_eddystone_uid,
)
from firmware_bridge.ble.ibeacon import decode_ibeacon, encode_ibeacon
from firmware_bridge.ble.readings import EddystoneTlm, EddystoneUid, IBeacon
from firmware_bridge.ble.skips import DecodeError, SkipReason

# Apple's iBeacon advertisement: flags, then one manufacturer-specific AD structure.
IBEACON_ADVERT = bytes.fromhex(
    "020106"  # flags: LE general discoverable, BR/EDR not supported
    "1aff"  # length 26 (type + 25 data bytes), type 0xFF manufacturer-specific
    "4c00"  # company id 0x004C (Apple), little-endian
    "02"  # iBeacon type
    "15"  # iBeacon length: 21 bytes follow
    "e2c56db5dffb48d2b060d0f5a71096e0"  # proximity UUID
    "0001"  # major 1 (big-endian)
    "0102"  # minor 0x0102 = 258
    "c5"  # measured power 0xC5 = 197 - 256 = -59 dBm
)


def test_ibeacon_layout() -> None:
    advert = decode_advertisement(IBEACON_ADVERT)
    assert advert.skipped == ()
    assert advert.readings == (IBeacon(UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0"), 1, 258, -59),)


def test_ibeacon_encoder_writes_the_published_bytes() -> None:
    beacon = IBeacon(UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0"), 1, 258, -59)
    assert encode_ibeacon(beacon) == IBEACON_ADVERT[3:]


def test_ibeacon_extremes() -> None:
    # major 0xFFFF = 65535, minor 0x0000, measured power 0x7F = +127 and 0x80 = -128.
    data = bytes.fromhex("4c000215" + "00" * 16 + "ffff" + "0000" + "7f")
    assert decode_ibeacon(data) == IBeacon(UUID(int=0), 65535, 0, 127)
    assert decode_ibeacon(data[:-1] + b"\x80").measured_power == -128


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("4c", SkipReason.TRUNCATED),  # not even a company id
        ("06000215", SkipReason.UNKNOWN_COMPANY),  # Microsoft
        ("4c00", SkipReason.TRUNCATED),  # Apple, no type
        ("4c001005011c", SkipReason.UNKNOWN_FRAME),  # Apple "Nearby", not an iBeacon
        ("4c0002", SkipReason.TRUNCATED),  # no length byte
        ("4c000214" + "00" * 21, SkipReason.MALFORMED),  # length byte not 0x15
        ("4c000215" + "00" * 20, SkipReason.TRUNCATED),  # measured power missing
        ("4c000215" + "00" * 22, SkipReason.OVERLONG),
    ],
)
def test_ibeacon_refusals(data: str, reason: SkipReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_ibeacon(bytes.fromhex(data))
    assert caught.value.reason is reason


# Eddystone: flags, the complete list of 16-bit UUIDs holding 0xFEAA, then service data.
UID_ADVERT = bytes.fromhex(
    "020106"
    "0303aafe"  # complete list of 16-bit service UUIDs: 0xFEAA, little-endian
    "1716aafe"  # service data length 0x17, type 0x16, UUID 0xFEAA
    "00"  # frame type UID
    "eb"  # ranging data 0xEB = 235 - 256 = -21 dBm at 0 m
    "8b0ca750095477cb3e77"  # namespace: the spec's elided-UUID example
    "0102030405ff"  # instance
    "0000"  # RFU
)


def test_eddystone_uid_layout() -> None:
    advert = decode_advertisement(UID_ADVERT)
    assert advert.skipped == ()
    assert advert.readings == (
        EddystoneUid(-21, bytes.fromhex("8b0ca750095477cb3e77"), bytes.fromhex("0102030405ff")),
    )


def test_eddystone_uid_without_rfu_bytes() -> None:
    # "Existing UID implementations that truncate the frame to omit the RFU bytes will use
    # 0x15": service data length 0x15, 18 frame bytes.
    legacy = UID_ADVERT[:7] + b"\x15" + UID_ADVERT[8:-2]
    assert decode_advertisement(legacy).readings == decode_advertisement(UID_ADVERT).readings


def test_eddystone_uid_encoder_writes_the_published_bytes() -> None:
    uid = EddystoneUid(-21, bytes.fromhex("8b0ca750095477cb3e77"), bytes.fromhex("0102030405ff"))
    assert encode_eddystone_uid(uid) == UID_ADVERT[7:]
    assert encode_eddystone_uid(uid, rfu=False) == b"\x15" + UID_ADVERT[8:-2]


TLM_ADVERT = bytes.fromhex(
    "020106"
    "0303aafe"
    "1116aafe"  # service data length 0x11 ("must be 0x11"), UUID 0xFEAA
    "20"  # frame type TLM
    "00"  # version 0: unencrypted
    "0bb8"  # VBATT 0x0BB8 = 3000 mV
    "1780"  # TEMP 0x17.0x80 = 23 + 128/256 = 23.5 °C
    "00001234"  # ADV_CNT 0x1234 = 4660
    "0001e240"  # SEC_CNT 0x1E240 = 123456 tenths = 12345.6 s
)


def test_eddystone_tlm_layout() -> None:
    advert = decode_advertisement(TLM_ADVERT)
    assert advert.skipped == ()
    assert advert.readings == (EddystoneTlm(3000, 23.5, 4660, 12345.6),)


def test_eddystone_tlm_encoder_writes_the_published_bytes() -> None:
    assert encode_eddystone_tlm(EddystoneTlm(3000, 23.5, 4660, 12345.6)) == TLM_ADVERT[7:]


def _tlm(vbatt: str, temp: str) -> bytes:
    return bytes.fromhex("aafe2000" + vbatt + temp + "00000000" + "00000000")


@pytest.mark.parametrize(
    ("temp", "celsius"),
    [
        ("0000", 0.0),
        ("0080", 0.5),  # 0x00.0x80: half a degree
        ("ff80", -0.5),  # 0xFF80 = -128 as int16, /256 = -0.5
        ("ec00", -20.0),  # 0xEC = -20 as int8, fraction 0
        ("e740", -24.75),  # 0xE740 = -6336, /256 = -24.75
        ("7fff", 127.99609375),  # the largest: 32767 / 256
        ("8001", -127.99609375),  # the smallest supported: -32767 / 256
        ("8000", None),  # "If not supported the value should be set to 0x8000"
    ],
)
def test_eddystone_tlm_temperature(temp: str, celsius: float | None) -> None:
    tlm = decode_eddystone(_tlm("0bb8", temp))
    assert isinstance(tlm, EddystoneTlm)
    assert tlm.temperature_c == celsius


def test_eddystone_tlm_temperature_round_trip_of_edge_values() -> None:
    for celsius in (-0.5, -20.0, -24.75, 127.99609375, -127.99609375, None):
        tlm = EddystoneTlm(2800, celsius, 0, 0.0)
        structure = encode_eddystone_tlm(tlm)
        assert decode_eddystone(structure, 2) == tlm


def test_eddystone_tlm_battery_not_supported() -> None:
    # "If not supported (for example in a USB-powered beacon) the value should be zeroed."
    tlm = decode_eddystone(_tlm("0000", "1780"))
    assert isinstance(tlm, EddystoneTlm)
    assert tlm.battery_mv is None


def test_eddystone_tlm_counters_are_unsigned_32_bit() -> None:
    data = bytes.fromhex("aafe2000" + "ffff" + "8000" + "ffffffff" + "ffffffff")
    assert decode_eddystone(data) == EddystoneTlm(65535, None, 4294967295, 429496729.5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("aa", SkipReason.TRUNCATED),
        ("0d1848", SkipReason.UNKNOWN_SERVICE),  # heart rate service data
        ("aafe", SkipReason.TRUNCATED),  # no frame type
        ("aafe10ee03676f6f676c6507", SkipReason.UNKNOWN_FRAME),  # Eddystone-URL
        ("aafe30" + "00" * 9, SkipReason.UNKNOWN_FRAME),  # Eddystone-EID
        ("aafe2001" + "00" * 16, SkipReason.UNKNOWN_FRAME),  # encrypted TLM (version 1)
        ("aafe20", SkipReason.TRUNCATED),  # TLM without version
        ("aafe2000" + "00" * 11, SkipReason.TRUNCATED),  # SEC_CNT cut short
        ("aafe2000" + "00" * 13, SkipReason.OVERLONG),  # "must be truncated after…"
        ("aafe00eb" + "00" * 15, SkipReason.TRUNCATED),  # UID missing an instance byte
        ("aafe00eb" + "00" * 17, SkipReason.TRUNCATED),  # one RFU byte only
        ("aafe00eb" + "00" * 19, SkipReason.OVERLONG),
    ],
)
def test_eddystone_refusals(data: str, reason: SkipReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_eddystone(bytes.fromhex(data))
    assert caught.value.reason is reason


def test_eddystone_spec_example_prefix_splits_into_the_documented_structures() -> None:
    # The protocol specification's common prefix: flags, the UUID list, service data.
    assert parse_ad_structures(TLM_ADVERT)[:2] == [(0x01, b"\x06"), (0x03, b"\xaa\xfe")]
    ad_type, data = parse_ad_structures(TLM_ADVERT)[2]
    assert ad_type == 0x16
    assert data[:2] == b"\xaa\xfe"
