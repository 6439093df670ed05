"""The box's kiosk page in Chromium: a replayed tray's bill, and what staff do there."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from edge.checkout.frames import Frame
from edge.checkout.kiosk import KioskServer
from edge.checkout.pipeline import CheckoutPipeline
from edge.checkout.scenes import scene_frames
from models.traycolour.runtime import TrayRecognizer
from tests.checkout_support import pipelines, recorded
from wire.checkout import (
    CORRECTION,
    TRANSACTION,
    CheckoutCorrection,
    CheckoutTransaction,
    fen_to_yuan,
)

pytestmark = pytest.mark.browser

HELD_OUT = range(2_001_000, 2_001_100)  # seeds neither training nor calibration saw
PIN = "2468"


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[tuple[CheckoutPipeline, str]]:
    with pipelines(tmp_path, TrayRecognizer()) as make:
        pipeline = make()
        server = KioskServer(pipeline, host="127.0.0.1", port=0, staff_pin=PIN)
        server.start()
        yield pipeline, server.url
        server.stop()


def a_tray(recognizer: TrayRecognizer, *, needs_staff: bool, guessed: bool = False) -> int:
    """A held-out tray that the model bills without staff (or sends to staff; ``guessed``:
    with a dish it was unsure of but has a colour guess for)."""
    for seed in HELD_OUT:
        resting = next(f for f, t in scene_frames([seed]) if t is not None)
        result = recognizer.recognize(resting)
        unsure = any(i.colour == "unknown" and i.guess != "unknown" for i in result.items)
        if result.needs_staff is needs_staff and (unsure or not guessed):
            return seed
    raise AssertionError(f"no tray with needs_staff={needs_staff} in {HELD_OUT}")


def replay_one_tray(pipeline: CheckoutPipeline, seed: int) -> CheckoutTransaction:
    frames = list(scene_frames([seed]))
    empty = [f for f, t in frames if t is None][:4]
    resting = [f for f, t in frames if t is not None]
    for index, image in enumerate(empty + resting):
        pipeline.process(Frame(index, time.time(), image))
    (event,) = recorded(pipeline, TRANSACTION)
    return CheckoutTransaction.model_validate(event.data)


def test_the_kiosk_shows_the_bill_of_a_replayed_tray(
    kiosk: tuple[CheckoutPipeline, str], page: Page
) -> None:
    pipeline, url = kiosk
    page.goto(url)
    expect(page.locator("#message")).to_contain_text("Place your tray")
    tx = replay_one_tray(pipeline, a_tray(pipeline._recognizer, needs_staff=False))
    assert not tx.needs_staff
    expect(page.locator("#message")).to_have_text("Thank you!")
    rows = page.locator("#items tr")
    expect(rows).to_have_count(len(tx.items))
    for row, item in zip(rows.all(), tx.items, strict=True):
        assert item.price_fen is not None
        expect(row).to_contain_text(item.colour.value)
        expect(row).to_contain_text(f"¥{fen_to_yuan(item.price_fen)}")
    expect(page.locator("#total")).to_have_text(f"合计 Total ¥{fen_to_yuan(tx.total_fen)}")
    # The annotated frame is there and decodes.
    frame = page.locator("#frame")
    expect(frame).to_have_attribute("src", re.compile(r"^/frame\.jpg"))
    page.wait_for_function("document.getElementById('frame').naturalWidth === 640")


def test_staff_correct_a_dish_and_settle_a_menu_order(
    kiosk: tuple[CheckoutPipeline, str], page: Page
) -> None:
    pipeline, url = kiosk
    page.goto(url)
    tx = replay_one_tray(pipeline, a_tray(pipeline._recognizer, needs_staff=True, guessed=True))
    assert tx.needs_staff
    expect(page.locator("#message")).to_have_text("A member of staff will help you")
    expect(page.locator("#items tr")).to_have_count(len(tx.items))
    page.locator("#staff summary").click()
    selects = page.locator("#fix select")
    expect(selects).to_have_count(len(tx.items))
    # A dish the model was unsure of: its guess pre-selected and marked, not yet billed.
    guesses = pipeline.view.guesses
    for select, item, guess in zip(selects.all(), tx.items, guesses, strict=True):
        if item.colour.value != "unknown":
            expect(select).to_have_value(item.colour.value)
            expect(select).not_to_have_class("guess")
        elif guess != "unknown":
            expect(select).to_have_value(guess)
            expect(select).to_have_class("guess")
    expect(page.locator("#guess-note")).to_contain_text("the model's guess")
    # A guess is not billed on trust: Correct bill asks staff to look at each one first.
    picks = [
        item.colour.value if item.colour.value != "unknown" else guess
        for item, guess in zip(tx.items, guesses, strict=True)
    ]
    marked = [
        n + 1
        for n, (item, pick) in enumerate(zip(tx.items, picks, strict=True))
        if item.colour.value == "unknown" and pick != "unknown"
    ]
    assert marked, "the tray was chosen for a guessed dish"
    for select, pick in zip(selects.all(), picks, strict=True):
        if pick == "unknown":  # no guess to offer: staff name it
            select.select_option("white")
    page.locator("#correct").click()
    expect(page.locator("#staff-result")).to_have_text(
        f"Check dish {', '.join(map(str, marked))} on the tray first: press ✓ or choose its colour"
    )
    looked_at = page.locator("#fix label").nth(marked[0] - 1)
    looked_at.locator("button.ok").click()
    expect(looked_at.locator("select")).not_to_have_class("guess")
    expect(looked_at.locator("button.ok")).to_have_count(0)
    expect(looked_at.locator("select")).to_have_value(picks[marked[0] - 1])
    # A dish the model missed: added, and it needs a colour.
    page.locator("#add-dish").click()
    expect(selects).to_have_count(len(tx.items) + 1)
    page.locator("#correct").click()
    expect(page.locator("#staff-result")).to_have_text("Choose a colour for every dish")
    # The first detection was no dish; the others are white and the added one black.
    selects.first.select_option("no dish")
    expect(selects.first).not_to_have_class("guess")
    for select in selects.all()[1:-1]:
        select.select_option("white")
    selects.last.select_option("black")
    # The screen faces the customers: no correction without the staff PIN.
    expect(page.locator("#pin-row")).to_be_visible()
    page.locator("#correct").click()
    expect(page.locator("#staff-result")).to_have_text("Not corrected: type the staff PIN first")
    page.locator("#pin").fill("1111")
    page.locator("#correct").click()
    expect(page.locator("#staff-result")).to_have_text("Not corrected: wrong staff PIN")
    assert not recorded(pipeline, CORRECTION)
    page.locator("#pin").fill(PIN)
    page.locator("#correct").click()
    expected = 15_00 + 3_50 * (len(tx.items) - 1)
    expect(page.locator("#staff-result")).to_have_text(f"Corrected: ¥{expected / 100:.2f}")
    expect(page.locator("#message")).to_have_text("Corrected by staff")
    expect(page.locator("#total")).to_have_text(f"合计 Total ¥{fen_to_yuan(expected)}")
    (fix,) = recorded(pipeline, CORRECTION)
    assert fix.data["transaction_id"] == tx.transaction_id
    corrected = CheckoutCorrection.model_validate(fix.data)
    assert [i.colour.value for i in corrected.items] == ["white"] * (len(tx.items) - 1) + ["black"]
    # Each dish kept its place on the frame; the added one has none.
    assert [i.centre for i in corrected.items] == [i.centre for i in tx.items[1:]] + [None]

    page.locator("#order").fill("0042")
    page.locator("#dishes").fill("A1 C1")
    page.locator("#settle").click()
    expect(page.locator("#staff-result")).to_have_text("Order 0042: ¥24.00")
    expect(page.locator("#items tr")).to_have_count(2)
    page.locator("#dishes").fill("Z9")
    page.locator("#settle").click()
    expect(page.locator("#staff-result")).to_contain_text("Not settled: dish 'Z9'")
    # Closing the staff panel forgets the PIN.
    page.locator("#staff summary").click()
    page.locator("#staff summary").click()
    expect(page.locator("#pin")).to_have_value("")
