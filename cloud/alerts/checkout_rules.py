"""Checkout events → alerts of category ``supervision`` (the operations centre's, like a
silent box). Pure, like :mod:`cloud.alerts.rules`, which hands them here.

A checkout box whose model failed its self-test on the box's CPU still recognises
trays but sends every one of them to staff; the canteen needs someone to replace the
model or the box. The alert is the box's (zone ``-``, device the box's id) and is
cleared when the box next starts with a model that passes, or one without a self-test.
Transactions and corrections raise nothing."""

from __future__ import annotations

from pydantic import BaseModel

from cloud.alerts.actions import Action, Clear, Key, Raise
from wire import Event
from wire.checkout import MODEL_CHECK, ModelCheck

CATEGORY = "supervision"
NO_ZONE = "-"


def checkout_actions(event: Event, data: BaseModel, *, site: str) -> list[Action]:
    """What a checkout event does to alerts; [] for transactions and corrections."""
    if not isinstance(data, ModelCheck):
        return []
    box = event.device_id
    if data.result != "failed":
        return [Clear(site, NO_ZONE, box, (MODEL_CHECK,))]
    model = data.model_version or "its model"
    return [
        Raise(
            Key(site, NO_ZONE, box, MODEL_CHECK),
            CATEGORY,
            "warning",
            f"Checkout box {box}: {model} failed its self-test on this CPU; "
            "every tray goes to staff",
            data.model_dump(mode="json"),
        )
    ]
