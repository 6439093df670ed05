"""The entry point: several frames per advertisement, padding, and fuzzing: nothing
escapes, every AD structure is accounted for once, every skip has its reason."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.ble.ad import HOUSEKEEPING_AD_TYPES, ad_structure, parse_ad_structures
from firmware_bridge.ble.advert import decode_advertisement
from firmware_bridge.ble.bench import benchmark_decode, realistic_mix
from firmware_bridge.ble.eddystone import decode_eddystone, encode_eddystone_tlm
from firmware_bridge.ble.ibeacon import decode_ibeacon, encode_ibeacon
from firmware_bridge.ble.readings import (
    AreaKind,
    DecodedAdvert,
    EddystoneTlm,
    EddystoneUid,
    IBeacon,
    Reading,
    StudStatus,
)
from firmware_bridge.ble.skips import DecodeError, SkipCounts, SkipReason
from firmware_bridge.ble.stud_frame import decode_stud_status, encode_stud_status

STUD = StudStatus(42, AreaKind.BAY, 6, False, False, -0.4, 3010, 65535)
BEACON = IBeacon(UUID("6f1c2a9e-3b57-4d0e-9a51-5e6a0c2b7d10"), 2, 2001, -67)
TLM = EddystoneTlm(2990, -3.25, 123, 45.6)


def test_several_frames_in_one_extended_advertisement() -> None:
    # Extended advertising allows payloads beyond 31 bytes; order is kept.
    data = (
        b"\x02\x01\x04"
        + encode_stud_status(STUD)
        + encode_ibeacon(BEACON)
        + ad_structure(0x09, b"stud")  # a name: housekeeping, not a skip
        + encode_eddystone_tlm(TLM)
        + ad_structure(0xFF, b"\x06\x00\x01")  # Microsoft: skipped
    )
    counts = SkipCounts()
    advert = decode_advertisement(data, counts)
    assert advert.readings == (STUD, BEACON, TLM)
    assert advert.skipped == (SkipReason.UNKNOWN_COMPANY,)
    assert counts[SkipReason.UNKNOWN_COMPANY] == 1
    assert counts.total == 1


def test_empty_and_padded_payloads() -> None:
    assert decode_advertisement(b"") == DecodedAdvert()
    assert decode_advertisement(bytes(31)) == DecodedAdvert()
    # Controllers may report legacy payloads padded with zeros to 31 bytes.
    padded = encode_stud_status(STUD) + bytes(12)
    assert decode_advertisement(padded).readings == (STUD,)
    assert decode_advertisement(padded).skipped == ()


def test_truncation_skips_the_rest_once() -> None:
    data = encode_stud_status(STUD) + encode_ibeacon(BEACON)[:-3]
    advert = decode_advertisement(data)
    assert advert.readings == (STUD,)
    assert advert.skipped == (SkipReason.AD_TRUNCATED,)


def test_unknown_types_and_services() -> None:
    data = (
        ad_structure(0x2A, b"mesh")
        + ad_structure(0x16, b"\x0d\x18\x48")
        + ad_structure(0x20, b"\x01\x02\x03\x04")
        + ad_structure(0x21, bytes(17))
        + ad_structure(0xFF, b"")
    )
    assert decode_advertisement(data).skipped == (
        SkipReason.AD_UNKNOWN_TYPE,
        SkipReason.UNKNOWN_SERVICE,
        SkipReason.UNKNOWN_SERVICE,
        SkipReason.UNKNOWN_SERVICE,
        SkipReason.TRUNCATED,
    )


def test_counter_reports_every_reason() -> None:
    counts = SkipCounts()
    assert counts.as_dict() == {reason.value: 0 for reason in SkipReason}
    other = SkipCounts()
    other.add(SkipReason.BAD_CRC, 3)
    counts.merge(other)
    counts.add_all([SkipReason.BAD_CRC, SkipReason.MALFORMED])
    assert counts[SkipReason.BAD_CRC] == 4
    assert counts.total == 5
    assert dict(counts)[SkipReason.MALFORMED] == 1


def _strict(decoder: Callable[[bytes], Reading], data: bytes) -> Reading | SkipReason:
    try:
        return decoder(data)
    except DecodeError as exc:
        return exc.reason


def _expected(ad_type: int, data: bytes) -> Reading | SkipReason | None:  # noqa: PLR0911
    """What one AD structure should give, by the strict decoders (None: housekeeping)."""
    if ad_type == 0xFF:
        if len(data) < 2:
            return SkipReason.TRUNCATED
        company = int.from_bytes(data[:2], "little")
        if company == 0xFFFF:
            return _strict(decode_stud_status, data)
        if company == 0x004C:
            return _strict(decode_ibeacon, data)
        return SkipReason.UNKNOWN_COMPANY
    if ad_type == 0x16:
        return _strict(decode_eddystone, data)
    if ad_type in HOUSEKEEPING_AD_TYPES:
        return None
    if ad_type in (0x20, 0x21):
        return SkipReason.UNKNOWN_SERVICE
    return SkipReason.AD_UNKNOWN_TYPE


def _valid_structures() -> st.SearchStrategy[bytes]:
    stud = st.builds(
        StudStatus,
        stud_id=st.integers(0, 2**32 - 1),
        area_kind=st.just(AreaKind.BAY),
        area_id=st.integers(1, 65535),
        occupied=st.booleans(),
        tamper=st.booleans(),
        field_ut=st.none() | st.integers(-3000, 3000).map(lambda n: n / 10),
        battery_mv=st.integers(0, 65535),
        seq=st.integers(0, 65535),
    ).map(encode_stud_status)
    beacon = st.builds(
        IBeacon,
        st.uuids(),
        st.integers(0, 65535),
        st.integers(0, 65535),
        st.integers(-128, 127),
    ).map(encode_ibeacon)
    tlm = st.builds(
        EddystoneTlm,
        st.none() | st.integers(1, 65535),
        st.none() | st.integers(-32767, 32767).map(lambda n: n / 256),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1).map(lambda n: n / 10),
    ).map(encode_eddystone_tlm)
    return stud | beacon | tlm


def _mutated(structure: bytes, how: int, at: int, value: int) -> bytes:
    """A valid AD structure damaged one way, its length byte kept consistent."""
    data = structure[2:]
    if how == 0:  # cut short
        data = data[: at % (len(data) + 1)]
    elif how == 1:  # one byte changed
        k = at % len(data)
        data = data[:k] + bytes((value,)) + data[k + 1 :]
    elif how == 2:  # one byte too many
        data += bytes((value,))
    return ad_structure(structure[1], data)


def _structures() -> st.SearchStrategy[bytes]:
    valid = _valid_structures()
    damaged = st.builds(
        _mutated, valid, st.integers(0, 3), st.integers(0, 255), st.integers(0, 255)
    )
    random_type = st.builds(ad_structure, st.integers(0, 255), st.binary(max_size=40))
    prefixed = st.builds(
        lambda prefix, rest: ad_structure(prefix[0], prefix[1:] + rest),
        st.sampled_from([b"\xff\xff\xff\x01", b"\xff\x4c\x00\x02\x15", b"\x16\xaa\xfe\x20\x00"]),
        st.binary(max_size=24),
    )
    return valid | damaged | random_type | prefixed


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_every_skip_is_counted(data: bytes) -> None:
    counts = SkipCounts()
    advert = decode_advertisement(data, counts)
    assert counts.total == len(advert.skipped)
    assert all(isinstance(reason, SkipReason) for reason in advert.skipped)
    assert all(
        isinstance(r, StudStatus | IBeacon | EddystoneTlm | EddystoneUid) for r in advert.readings
    )


@settings(max_examples=250, deadline=None)
@given(st.lists(_structures(), max_size=8), st.integers(0, 400))
def test_structure_sequences_are_each_accounted_for(structures: list[bytes], cut: int) -> None:
    data = b"".join(structures)
    expected = [_expected(t, d) for t, d in parse_ad_structures(data)]
    counts = SkipCounts()
    advert = decode_advertisement(data, counts)
    assert advert.readings == tuple(
        e for e in expected if e is not None and not isinstance(e, SkipReason)
    )
    assert advert.skipped == tuple(e for e in expected if isinstance(e, SkipReason))
    assert counts.total == len(advert.skipped)

    # Cut anywhere: what is whole still decodes; a structure cut through is one skip.
    cut_at = cut % (len(data) + 1)
    truncated = decode_advertisement(data[:cut_at])
    whole: list[Reading | SkipReason | None] = []
    i = 0
    while i < cut_at and data[i]:
        if i + 1 + data[i] > cut_at:
            whole.append(SkipReason.AD_TRUNCATED)
            break
        whole.append(_expected(data[i + 1], data[i + 2 : i + 1 + data[i]]))
        i += 1 + data[i]
    assert truncated.skipped == tuple(e for e in whole if isinstance(e, SkipReason))
    assert len(truncated.readings) == sum(
        1 for e in whole if e is not None and not isinstance(e, SkipReason)
    )


def test_realistic_mix_decodes_and_benchmark_runs() -> None:
    payloads = realistic_mix(300)
    counts = SkipCounts()
    kinds = {type(r) for data in payloads for r in decode_advertisement(data, counts).readings}
    assert kinds >= {StudStatus, IBeacon, EddystoneTlm}
    assert 0 < counts.total < len(payloads) // 4
    result = benchmark_decode(0.01, payloads)
    assert result.decodes >= len(payloads)
    assert result.per_second > 0
