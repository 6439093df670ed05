"""Typed event payloads: for these event types, ``Event.data`` must validate as the
registered model (the edge checks before sending, the ingest on arrival)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from wire import fire, parking
from wire.checkout import (
    CORRECTION,
    MODEL_CHECK,
    TRANSACTION,
    CheckoutCorrection,
    CheckoutTransaction,
    ModelCheck,
)
from wire.codec import RejectReason, WireError
from wire.messages import Event

EVENT_DATA: dict[str, type[BaseModel]] = {
    TRANSACTION: CheckoutTransaction,
    CORRECTION: CheckoutCorrection,
    MODEL_CHECK: ModelCheck,
    fire.PREALARM: fire.FireAlarm,
    fire.ALARM: fire.FireAlarm,
    fire.ALARM_RESTORE: fire.FireAlarm,
    fire.TROUBLE: fire.FireTrouble,
    fire.TROUBLE_RESTORE: fire.FireTrouble,
    fire.CONFIRMED: fire.FireConfirmed,
    **dict.fromkeys(parking.STUD_EVENTS, parking.StudHealth),
    parking.OVER_CAPACITY: parking.BayOccupancy,
    parking.OVER_CAPACITY_CLEAR: parking.BayOccupancy,
    parking.NO_PARKING: parking.ZoneOccupancy,
    parking.NO_PARKING_CLEAR: parking.ZoneOccupancy,
    parking.SNAPSHOT: parking.ParkingSnapshot,
}


def event_data(event: Event) -> BaseModel | None:
    """The event's data as its typed model, None for an untyped event type;
    :class:`WireError` (reason ``schema``) when it does not validate."""
    model = EVENT_DATA.get(event.type)
    if model is None:
        return None
    try:
        return model.model_validate(event.data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(["data", *(str(p) for p in first["loc"])])
        raise WireError(RejectReason.SCHEMA, f"{where}: {first['msg']}") from None
