"""Bills: a recognised tray, a menu order, a staff correction → the wire's records.

Pure functions: the pipeline and the kiosk call them, the tests too.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from edge.checkout.prices import PriceError, PriceTable
from models.traycolour.runtime import Recognition
from wire.checkout import CheckoutCorrection, CheckoutTransaction, Colour, LineItem


def dish_name(colour: str, guess: str) -> str:
    """A dish for people to read: its colour, and for a dish of unknown colour the model's
    guess, which is never billed (``unknown(blue?)``)."""
    if colour == Colour.UNKNOWN.value and guess != Colour.UNKNOWN.value:
        return f"unknown({guess}?)"
    return colour


def new_transaction_id() -> str:
    return uuid.uuid4().hex


def _now_us() -> int:
    return time.time_ns() // 1000


def bill_tray(
    recognition: Recognition,
    prices: PriceTable,
    *,
    site: str,
    image_sha256: str | None,
    transaction_id: str | None = None,
) -> CheckoutTransaction:
    """Price every dish the model is sure of; a dish of unknown colour stays unpriced and
    sends the tray to staff. A colour the table has no price for is an error
    (:class:`PriceError`): the table is incomplete, and nothing may be billed."""
    if not recognition.items:
        raise PriceError("no dish found on the tray")
    items = []
    for item in recognition.items:
        colour = Colour(item.colour)
        price = None if colour is Colour.UNKNOWN else prices.price_of(colour)
        items.append(
            LineItem(
                colour=colour,
                price_fen=price,
                confidence=round(float(item.confidence), 4),
                centre=(round(item.centre[0]), round(item.centre[1])),
                radius=round(item.radius),
            )
        )
    return CheckoutTransaction(
        transaction_id=transaction_id or new_transaction_id(),
        site=site,
        mode="tray",
        items=items,
        total_fen=sum(i.price_fen or 0 for i in items),
        needs_staff=recognition.needs_staff or any(i.price_fen is None for i in items),
        confidence=min(i.confidence for i in items),
        model_version=recognition.model_version,
        price_table_version=prices.version,
        image_sha256=image_sha256,
        settled_ts=_now_us(),
    )


def bill_menu(
    order_number: str, dishes: Sequence[str], prices: PriceTable, *, site: str
) -> CheckoutTransaction:
    """A menu order: dish codes from the site's menu, e.g. ``["A1", "A1", "C3"]``."""
    if not dishes:
        raise PriceError("a menu order needs at least one dish")
    items = []
    for code in dishes:
        dish = prices.menu.get(code)
        if dish is None:
            raise PriceError(f"dish {code!r} is not on menu {prices.version!r}")
        items.append(
            LineItem(
                colour=Colour.UNKNOWN,
                price_fen=dish.price_fen,
                confidence=1.0,
                dish=f"{code} {dish.name}",
            )
        )
    return CheckoutTransaction(
        transaction_id=new_transaction_id(),
        site=site,
        mode="menu",
        items=items,
        total_fen=sum(i.price_fen or 0 for i in items),
        needs_staff=False,
        confidence=1.0,
        price_table_version=prices.version,
        order_number=order_number,
        settled_ts=_now_us(),
    )


def correct(
    transaction: CheckoutTransaction,
    colours: Sequence[Colour | None],
    prices: PriceTable,
    *,
    staff: str | None = None,
) -> CheckoutCorrection:
    """Staff say what the dishes are: one entry per dish of ``transaction``, in its order,
    then one per dish it missed. ``None`` drops a detection that was no dish; the dishes
    kept keep their place on the frame (labelled data for retraining), added ones have
    none. Every dish must have a price, and a corrected bill at least one dish."""
    if any(c is Colour.UNKNOWN for c in colours):
        raise PriceError("a correction must name a priced colour for every dish")
    if all(c is None for c in colours):
        raise PriceError("a corrected bill needs at least one dish")
    old = transaction.items
    items = []
    for i, colour in enumerate(colours):
        if colour is None:
            continue
        where = old[i] if i < len(old) else None
        items.append(
            LineItem(
                colour=colour,
                price_fen=prices.price_of(colour),
                confidence=1.0,
                centre=where.centre if where else None,
                radius=where.radius if where else None,
            )
        )
    return CheckoutCorrection(
        transaction_id=transaction.transaction_id,
        items=items,
        total_fen=sum(i.price_fen or 0 for i in items),
        staff=staff,
        price_table_version=prices.version,
    )
