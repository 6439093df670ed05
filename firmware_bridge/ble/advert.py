"""The entry point: one advertising payload in, every frame it holds out, never an
exception. What cannot be decoded is skipped and its reason recorded."""

from __future__ import annotations

from firmware_bridge.ble.ad import (
    AD_MANUFACTURER_DATA,
    AD_SERVICE_DATA_16,
    AD_SERVICE_DATA_32,
    AD_SERVICE_DATA_128,
    HOUSEKEEPING_AD_TYPES,
)
from firmware_bridge.ble.eddystone import EDDYSTONE_UUID, decode_eddystone
from firmware_bridge.ble.ibeacon import APPLE_COMPANY_ID, IBEACON_TYPE, decode_ibeacon
from firmware_bridge.ble.readings import DecodedAdvert, Reading
from firmware_bridge.ble.skips import DecodeError, SkipCounts, SkipReason
from firmware_bridge.ble.stud_frame import STUD_COMPANY_ID, decode_stud_status

_EMPTY = DecodedAdvert()  # frozen: one shared instance for the many payloads with nothing
_TRUNCATED = SkipReason.TRUNCATED
_UNKNOWN_COMPANY = SkipReason.UNKNOWN_COMPANY
_UNKNOWN_FRAME = SkipReason.UNKNOWN_FRAME
_UNKNOWN_SERVICE = SkipReason.UNKNOWN_SERVICE
_AD_UNKNOWN_TYPE = SkipReason.AD_UNKNOWN_TYPE
_AD_TRUNCATED = SkipReason.AD_TRUNCATED


# One flat loop on purpose: a helper call per AD structure would cost more than the
# decoding itself at 50,000 advertisements a second.
def decode_advertisement(  # noqa: PLR0912, PLR0915
    data: bytes, counts: SkipCounts | None = None
) -> DecodedAdvert:
    """Decode the AD structures of one advertising payload (legacy ≤ 31 bytes or extended).

    Returns the stud, iBeacon and Eddystone frames found, in payload order, and one
    :class:`SkipReason` per AD structure skipped (also added to ``counts`` when given).
    Housekeeping structures (flags, names, UUID lists, TX power…) are passed over silently.
    A length byte running past the end skips the rest of the payload once
    (``AD_TRUNCATED``); a zero length byte ends the payload (padding). Never raises for any
    content of ``data``.

    The reasons are those the strict decoders would raise; the common ones (someone
    else's company id, an iPhone's non-iBeacon Apple frames, unknown AD types) are found
    here without raising, since exceptions cost far more than a comparison."""
    # Tuples grown by concatenation: most payloads hold one frame, and a 1-tuple is the
    # cheapest container that can go into the result as it is.
    readings: tuple[Reading, ...] = ()
    skipped: tuple[SkipReason, ...] = ()
    n = len(data)
    i = 0
    while i < n:
        length = data[i]
        if length == 0:
            break
        end = i + 1 + length
        reason: SkipReason | None
        if end > n:
            reason = _AD_TRUNCATED
            i = n
        else:
            ad_type = data[i + 1]
            start = i + 2
            size = length - 1
            i = end
            reason = None
            try:
                if ad_type == AD_MANUFACTURER_DATA:
                    if size < 2:
                        reason = _TRUNCATED
                    else:
                        company = data[start] | data[start + 1] << 8
                        if company == STUD_COMPANY_ID:
                            reading: Reading = decode_stud_status(data, start, end)
                        elif company != APPLE_COMPANY_ID:
                            reason = _UNKNOWN_COMPANY
                        elif size >= 3 and data[start + 2] != IBEACON_TYPE:
                            reason = _UNKNOWN_FRAME
                        else:
                            reading = decode_ibeacon(data, start, end)
                elif ad_type == AD_SERVICE_DATA_16:
                    if size >= 2 and data[start] | data[start + 1] << 8 != EDDYSTONE_UUID:
                        reason = _UNKNOWN_SERVICE
                    else:
                        reading = decode_eddystone(data, start, end)
                elif ad_type in HOUSEKEEPING_AD_TYPES:
                    continue
                elif ad_type in (AD_SERVICE_DATA_32, AD_SERVICE_DATA_128):
                    reason = _UNKNOWN_SERVICE
                else:
                    reason = _AD_UNKNOWN_TYPE
            except DecodeError as exc:
                reason = exc.reason
            if reason is None:
                readings += (reading,)
                continue
        skipped += (reason,)
    if skipped:
        if counts is not None:
            counts.add_all(skipped)
    elif not readings:
        return _EMPTY
    return DecodedAdvert(readings, skipped)
