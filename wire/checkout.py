"""The checkout part of the contract: what a transaction and a staff correction carry.

They travel as :class:`wire.Event` data (types ``checkout.transaction`` and
``checkout.correction``), validated by these models on both sides; so does what the
box found when it checked its model on its own CPU (``checkout.model_check``). Money is an
integer number of fen (分, 0.01 yuan): exact, and no float ever touches a bill.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

TRANSACTION = "checkout.transaction"
CORRECTION = "checkout.correction"
MODEL_CHECK = "checkout.model_check"
#: The longest ``ModelCheck.detail``: the box cuts its self-test's account to this.
MODEL_CHECK_DETAIL_CHARS = 300

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
TransactionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Fen = Annotated[int, Field(ge=0, le=100_000_00)]  # up to 100,000 yuan


class Colour(StrEnum):
    """A price tier is a colour of plate or bowl; ``unknown`` goes to staff."""

    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    GREEN = "green"
    BLUE = "blue"
    PURPLE = "purple"
    WHITE = "white"
    BLACK = "black"
    UNKNOWN = "unknown"


PRICED_COLOURS = tuple(c for c in Colour if c is not Colour.UNKNOWN)


def yuan_to_fen(value: str | int | float | Decimal) -> int:
    """'12.5' → 1250. Refuses fractions of a fen and negative prices."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount of yuan") from None
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount of yuan")
    if amount < 0:
        raise ValueError(f"{value!r} yuan is negative")
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value!r} yuan is not a whole number of fen (0.01 yuan)")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineItem(_Model):
    colour: Colour
    price_fen: Fen | None = Field(description="null when the colour has no price (staff)")
    confidence: float = Field(ge=0, le=1)
    centre: tuple[int, int] | None = Field(default=None, description="pixels in the image")
    radius: int | None = Field(default=None, ge=0)
    dish: str | None = Field(default=None, max_length=64, description="menu orders: dish name")


class CheckoutTransaction(_Model):
    """One settled tray or menu order, recorded once per ``transaction_id``."""

    transaction_id: TransactionId
    site: Annotated[str, StringConstraints(max_length=64)]
    mode: Literal["tray", "menu"]
    items: list[LineItem] = Field(max_length=64)
    total_fen: Fen
    needs_staff: bool
    confidence: float = Field(ge=0, le=1, description="lowest item confidence (1 if none)")
    model_version: str | None = Field(default=None, max_length=100)
    price_table_version: str = Field(max_length=100)
    image_sha256: Sha256 | None = None
    order_number: str | None = Field(default=None, max_length=32)
    settled_ts: int | None = Field(
        default=None,
        ge=0,
        description="when the box settled it, µs since the epoch (device clock); a "
        "transaction sent again after a crash keeps it, so it lands on the same point",
    )

    @model_validator(mode="after")
    def _total_adds_up(self) -> CheckoutTransaction:
        priced = sum(i.price_fen or 0 for i in self.items)
        if priced != self.total_fen:
            raise ValueError(f"total_fen {self.total_fen} is not the sum of the items ({priced})")
        if any(i.price_fen is None for i in self.items) and not self.needs_staff:
            raise ValueError("an item without a price must send the tray to staff")
        return self


class CheckoutCorrection(_Model):
    """Staff changed the items of a recorded transaction at the kiosk."""

    transaction_id: TransactionId
    items: list[LineItem] = Field(max_length=64)
    total_fen: Fen
    staff: str | None = Field(default=None, max_length=64)
    price_table_version: str = Field(max_length=100)

    @model_validator(mode="after")
    def _total_adds_up(self) -> CheckoutCorrection:
        if any(i.price_fen is None for i in self.items):
            raise ValueError("a corrected bill prices every item")
        if sum(i.price_fen or 0 for i in self.items) != self.total_fen:
            raise ValueError("total_fen is not the sum of the corrected items")
        return self


class ModelCheck(_Model):
    """How the box's recognition model did on its self-test when the box started: a known
    tray set run on the box's own CPU. ``failed`` means every tray goes to staff until the
    model is replaced or the box's CPU is; ``not_run``, that the model came without one."""

    site: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="the box's site: this event may reach the cloud before its first heartbeat",
    )
    model_version: str | None = Field(default=None, max_length=100)
    result: Literal["passed", "failed", "not_run"]
    detail: str = Field(default="", max_length=MODEL_CHECK_DETAIL_CHARS)
