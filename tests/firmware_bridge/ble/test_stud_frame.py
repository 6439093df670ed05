"""The stud status frame against STUD_FRAME.md: the documented example byte for byte,
round trips, every refusal, and the CRC's claimed strength."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.ble import stud_frame
from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.crc8 import crc8
from firmware_bridge.ble.readings import AreaKind, StudStatus
from firmware_bridge.ble.skips import DecodeError, SkipReason
from firmware_bridge.ble.stud_frame import decode_stud_status, encode_stud_status, seq_distance

# STUD_FRAME.md's example: stud 1234 in bay 3, occupied, +12.3 µT, 2950 mV, sequence 777.
EXAMPLE = bytes.fromhex(
    "020104"  # flags
    "12ffffff"  # AD length 18, type 0xFF, company 0xFFFF
    "01"  # version
    "d2040000"  # stud id 1234 = 0x04D2, little-endian
    "0300"  # area id 3
    "05"  # flags: occupied | area kind 1 << 2
    "7b00"  # field 123 (0.1 µT)
    "860b"  # battery 2950 = 0x0B86
    "0903"  # sequence 777 = 0x0309
    "24"  # CRC-8/AUTOSAR of the 14 bytes from the version on
)
EXAMPLE_STATUS = StudStatus(1234, AreaKind.BAY, 3, True, False, 12.3, 2950, 777)


def _crc8_bitwise(data: bytes) -> int:
    """CRC-8/AUTOSAR the long way, bit by bit, from its catalogue parameters
    (poly 0x2F, init 0xFF, no reflection, xor-out 0xFF): a check on the table."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x2F) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def test_crc_matches_the_catalogue_check_value() -> None:
    assert crc8(b"123456789") == 0xDF
    assert _crc8_bitwise(b"123456789") == 0xDF


def test_documented_example_decodes() -> None:
    assert _crc8_bitwise(EXAMPLE[7:21]) == EXAMPLE[21]
    advert = decode_advertisement(EXAMPLE)
    assert advert.skipped == ()
    assert advert.readings == (EXAMPLE_STATUS,)
    assert advert.stud == EXAMPLE_STATUS
    assert EXAMPLE_STATUS.bay_id == 3
    assert EXAMPLE_STATUS.no_parking_zone_id is None


def test_documented_example_is_what_the_encoder_writes() -> None:
    assert encode_stud_status(EXAMPLE_STATUS) == EXAMPLE[3:]


def test_the_markdown_example_is_the_tested_one() -> None:
    doc = (Path(stud_frame.__file__).parent / "STUD_FRAME.md").read_text(encoding="utf-8")
    block = doc.split("```")[1]
    hex_bytes = "".join(re.findall(r"^((?:[0-9A-F]{2} )*[0-9A-F]{2})\s", block, re.MULTILINE))
    assert bytes.fromhex(hex_bytes) == EXAMPLE


def test_no_parking_and_unassigned_studs() -> None:
    zone = StudStatus(9011, AreaKind.NO_PARKING, 1, False, True, None, 2400, 0)
    encoded = encode_stud_status(zone)
    assert encoded[9:11] == b"\x01\x00"  # area id 1
    assert encoded[11] == 0b0000_1010  # tamper (bit 1), kind 2 in bits 2-3
    assert encoded[12:14] == b"\x00\x80"  # field 0x8000: magnetometer fault
    decoded = decode_stud_status(encoded, 2)
    assert decoded == zone
    assert decoded.no_parking_zone_id == 1
    assert decoded.bay_id is None
    spare = StudStatus(77, AreaKind.UNASSIGNED, 0, False, False, 0.0, 3000, 65535)
    assert decode_stud_status(encode_stud_status(spare), 2) == spare


statuses = st.builds(
    StudStatus,
    stud_id=st.integers(0, 2**32 - 1),
    area_kind=st.sampled_from(AreaKind),
    area_id=st.integers(1, 65535),
    occupied=st.booleans(),
    tamper=st.booleans(),
    field_ut=st.one_of(st.none(), st.integers(-32767, 32767).map(lambda n: n / 10)),
    battery_mv=st.integers(0, 65535),
    seq=st.integers(0, 65535),
).map(
    lambda s: StudStatus(
        s.stud_id,
        s.area_kind,
        0 if s.area_kind is AreaKind.UNASSIGNED else s.area_id,
        s.occupied,
        s.tamper,
        s.field_ut,
        s.battery_mv,
        s.seq,
    )
)


@settings(max_examples=300, deadline=None)
@given(statuses)
def test_round_trip(status: StudStatus) -> None:
    structure = encode_stud_status(status)
    assert len(structure) == 19
    assert decode_stud_status(structure, 2) == status
    assert decode_advertisement(b"\x02\x01\x04" + structure).readings == (status,)


def test_encoder_refuses_what_the_layout_cannot_carry() -> None:
    for bad in (
        StudStatus(2**32, AreaKind.BAY, 1, False, False, 0.0, 3000, 0),
        StudStatus(1, AreaKind.BAY, 1, False, False, 0.0, 70000, 0),
        StudStatus(1, AreaKind.BAY, 0, False, False, 0.0, 3000, 0),  # a bay needs an id
        StudStatus(1, AreaKind.UNASSIGNED, 5, False, False, 0.0, 3000, 0),
        StudStatus(1, AreaKind.BAY, 1, False, False, 0.0, 3000, 0, version=2),
    ):
        with pytest.raises(ValueError, match=r"."):
            encode_stud_status(bad)


def _with_crc(data: bytes) -> bytes:
    """Manufacturer AD data with its CRC byte recomputed (to reach the later checks)."""
    return data[:-1] + bytes((_crc8_bitwise(data[2:-1]),))


AD_DATA = EXAMPLE[5:]  # company id … CRC


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff", SkipReason.TRUNCATED),
        (b"\xfe\xff" + AD_DATA[2:], SkipReason.UNKNOWN_COMPANY),
        (b"\xff\xff", SkipReason.TRUNCATED),
        (b"\xff\xff\x02" + AD_DATA[3:], SkipReason.UNKNOWN_FRAME),
        (b"\xff\xff\x00" + AD_DATA[3:], SkipReason.UNKNOWN_FRAME),
        (AD_DATA[:-1], SkipReason.TRUNCATED),
        (AD_DATA + b"\x00", SkipReason.OVERLONG),
        (AD_DATA[:-1] + bytes((AD_DATA[-1] ^ 1,)), SkipReason.BAD_CRC),
        (AD_DATA[:10] + bytes((AD_DATA[10] ^ 0x40,)) + AD_DATA[11:], SkipReason.BAD_CRC),
        (_with_crc(AD_DATA[:9] + b"\x15" + AD_DATA[10:]), SkipReason.MALFORMED),  # bit 4
        (_with_crc(AD_DATA[:9] + b"\x0d" + AD_DATA[10:]), SkipReason.MALFORMED),  # kind 3
        (_with_crc(AD_DATA[:7] + b"\x00\x00" + AD_DATA[9:]), SkipReason.MALFORMED),  # bay 0
        (_with_crc(AD_DATA[:9] + b"\x01" + AD_DATA[10:]), SkipReason.MALFORMED),  # unassigned 3
    ],
)
def test_refusals(data: bytes, reason: SkipReason) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_stud_status(data)
    assert caught.value.reason is reason
    # The entry point counts the same reason instead of raising.
    advert = decode_advertisement(bytes((len(data) + 1, 0xFF)) + data)
    assert advert.readings == ()
    assert advert.skipped == (reason,)


def test_crc_catches_every_error_of_up_to_three_bits() -> None:
    """Hamming distance 4 over the 120 bits of version … CRC, as STUD_FRAME.md claims:
    no error of weight 1, 2 or 3 leaves the CRC valid. CRCs are linear, so an error
    pattern goes undetected exactly when the XOR of its bits' syndromes is zero."""
    zero = bytes(14)
    syndromes = []
    for bit in range(14 * 8):
        flipped = bytearray(zero)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        syndromes.append(crc8(bytes(flipped)) ^ crc8(zero))
    syndromes += [1 << k for k in range(8)]  # errors in the CRC byte itself
    assert 0 not in syndromes
    assert len(set(syndromes)) == len(syndromes)  # no two-bit error cancels
    where = {s: k for k, s in enumerate(syndromes)}
    for a, b in itertools.combinations(range(len(syndromes)), 2):
        c = where.get(syndromes[a] ^ syndromes[b])
        assert c is None or c in (a, b), f"bits {a}, {b}, {c} cancel"


@pytest.mark.parametrize(
    ("previous", "current", "distance"),
    [(5, 6, 1), (5, 5, 0), (65535, 0, 1), (65530, 4, 10), (6, 5, 65535)],
)
def test_seq_distance_wraps(previous: int, current: int, distance: int) -> None:
    assert seq_distance(previous, current) == distance
