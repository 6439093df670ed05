"""The checkout contract: money in fen, bills that add up, typed events through the ingest."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cloud.ingest.classify import Accepted, classify
from cloud.storage.rejects import Rejection
from wire import Event, WireError, encode
from wire.checkout import (
    TRANSACTION,
    CheckoutTransaction,
    Colour,
    LineItem,
    fen_to_yuan,
    yuan_to_fen,
)
from wire.events import event_data


@pytest.mark.parametrize(
    ("yuan", "fen"), [("12", 1200), ("12.5", 1250), ("0.01", 1), (3, 300), ("0", 0), (7.5, 750)]
)
def test_yuan_to_fen(yuan: str | int | float, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("1.005", "whole number of fen"),
        ("-2", "negative"),
        ("twelve", "not an amount"),
        ("nan", "not an amount"),
        ("inf", "not an amount"),
    ],
)
def test_yuan_to_fen_refuses(bad: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        yuan_to_fen(bad)


def test_fen_to_yuan() -> None:
    assert fen_to_yuan(1205) == "12.05"
    assert fen_to_yuan(7) == "0.07"


def tx(**changes: Any) -> dict[str, Any]:
    base = CheckoutTransaction(
        transaction_id="a" * 32,
        site="canteen",
        mode="tray",
        total_fen=1500,
        needs_staff=False,
        confidence=0.97,
        price_table_version="p1",
        items=[
            LineItem(colour=Colour.RED, price_fen=1200, confidence=0.97),
            LineItem(colour=Colour.WHITE, price_fen=300, confidence=0.99),
        ],
    ).model_dump(mode="json")
    return base | changes


def test_a_bill_must_add_up_and_unpriced_items_go_to_staff() -> None:
    with pytest.raises(ValidationError, match="not the sum"):
        CheckoutTransaction.model_validate(tx(total_fen=1600))
    unpriced = tx(items=[{"colour": "unknown", "price_fen": None, "confidence": 0.3}], total_fen=0)
    with pytest.raises(ValidationError, match="staff"):
        CheckoutTransaction.model_validate(unpriced)
    assert CheckoutTransaction.model_validate(unpriced | {"needs_staff": True}).needs_staff


def test_typed_events_validate_their_data() -> None:
    good = Event(device_id="box-1", seq=1, type=TRANSACTION, data=tx())
    assert isinstance(event_data(good), CheckoutTransaction)
    bad = Event(device_id="box-1", seq=2, type=TRANSACTION, data=tx(total_fen=-1))
    with pytest.raises(WireError, match=r"data\.total_fen"):
        event_data(bad)
    assert event_data(Event(device_id="box-1", seq=3, type="door.open")) is None


def test_the_ingest_accepts_a_transaction_and_rejects_a_bad_one() -> None:
    good = Event(device_id="box-1", seq=1, ts=5, type=TRANSACTION, data=tx())
    result = classify("tianshan/v1/dev/box-1/event", encode(good))
    assert isinstance(result, Accepted)
    assert isinstance(result.data, CheckoutTransaction)
    assert result.lines[1] == (
        "checkout,device=box-1,mode=tray,needs_staff=false,site=canteen "
        f'total_fen=1500i,items=2i,confidence=0.97,transaction_id="{"a" * 32}" 5000'
    )
    bad = Event(device_id="box-1", seq=2, type=TRANSACTION, data=tx(items=[]))
    result = classify("tianshan/v1/dev/box-1/event", encode(bad))
    assert isinstance(result, Rejection)
    assert result.reason == "schema"
    assert "total_fen" in result.detail
