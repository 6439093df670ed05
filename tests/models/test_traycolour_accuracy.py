"""A small held-out accuracy check of the committed model (the full one is REPORT.md).

200 trays at 640x480 from seeds neither training nor calibration saw. The committed model does
NOT reach the acceptance targets for item accuracy (99 %) and exact bills (97 %); see REPORT.md.
These bounds guard the level the pair of REPORT.md (traycolour-1403d3840f5b, the networks of
traycolour-3510ca920b71 in quicker graphs: first network float32 trained 2,300 steps, crop
classifier trained 8,000 steps on trays with scattered food and receipts, thresholds chosen
on 4,000 validation trays for at most 0.25 % wrong bills)
reached on these trays: 90.9 % item accuracy with its calibrated thresholds, 68.0 % exact
bills, one wrong bill (0.5 %), 99.3 % top label before the thresholds, 99.3 % for the crop
classifier alone, 99.4 % of dishes found (measured with this module's ``scored`` logic on the
committed pair; the previous pair, traycolour-cc206b331192, reached 94.1 % item accuracy with
its less strict thresholds, 68.6 % exact). Each bound is a margin below that, so that a small
change of the pair does not fail it; the wrong-bill bound is the acceptance target's (0.5 %),
with a margin for 200 trays. The strict thresholds are what holds the item and exact figures
down: the network's top colours, before them, bill 99.4 % of these trays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from models.traycolour import seeds
from models.traycolour.decode import decide
from models.traycolour.metrics import Prediction, TrayOutcome, summarise
from models.traycolour.runtime import TrayRecognizer
from models.traycolour.synth import render_tray

FIRST_SEED = seeds.HELD_OUT_START + 500_000  # held out, and apart from REPORT.md's trays
TRAYS = 200


@dataclass(frozen=True)
class Scored:
    """Outcomes as billed, as the fused top colour would bill with no threshold, and as the
    crop classifier's top colour alone would."""

    billed: list[TrayOutcome]
    raw: list[TrayOutcome]
    crop_only: list[TrayOutcome]
    #: As the guesses the kiosk offers staff (``Item.guess``) would bill.
    guessed: list[TrayOutcome]


@pytest.fixture(scope="module")
def scored(recognizer: TrayRecognizer) -> Scored:
    seeds.check_held_out(FIRST_SEED, TRAYS)
    billed, raw, crop_only, guessed = [], [], [], []
    t = recognizer.thresholds
    for seed in range(FIRST_SEED, FIRST_SEED + TRAYS):
        frame, label = render_tray(seed, size=(640, 480))
        result = recognizer.recognize(frame)
        billed.append(TrayOutcome.score(label, result.items, result.needs_staff, 0.0))
        guesses = [Prediction(i.guess, i.centre) for i in result.items]
        guessed.append(TrayOutcome.score(label, guesses, False, 0.0))
        assert all(i.guess == i.colour for i in result.items if i.colour != "unknown")
        decoded, box = recognizer.decode_frame(frame)
        tops = [Prediction(d.best, box.to_frame(d.cx, d.cy)) for d in decoded.dishes]
        raw.append(TrayOutcome.score(label, tops, False, 0.0))
        evidence = recognizer.candidates(frame).evidence(detect=t.detect, head_weight=0.0)
        alone = decide(evidence, replace(t, min_confidence=0.0, not_a_dish=1.01, unsure_dish=1.01))
        crops = [Prediction(d.best, box.to_frame(d.cx, d.cy)) for d in alone.dishes]
        crop_only.append(TrayOutcome.score(label, crops, False, 0.0))
    return Scored(billed, raw, crop_only, guessed)


def test_dishes_are_found(scored: Scored) -> None:
    summary = summarise(scored.billed)
    assert summary.items > 500  # about 3.4 dishes a tray
    assert summary.detection_recall >= 0.97
    assert summary.detection_precision >= 0.97


def test_colour_accuracy(scored: Scored) -> None:
    # The network's own top colour, before the strict calibrated confidence threshold.
    assert summarise(scored.raw).item_accuracy >= 0.98
    # As answered: doubtful dishes become "unknown", which counts as wrong for a plain dish.
    assert summarise(scored.billed).item_accuracy >= 0.89
    # The crop classifier alone, before fusing and thresholds.
    assert summarise(scored.crop_only).item_accuracy >= 0.98


def test_trays_billed_exactly(scored: Scored) -> None:
    summary = summarise(scored.billed)
    assert summary.billable_trays > 100
    assert summary.billed_exactly >= 0.62
    # Before the thresholds, the top colours alone.
    assert summarise(scored.raw).billed_exactly >= 0.96


def test_few_wrong_bills(scored: Scored) -> None:
    summary = summarise(scored.billed)
    assert summary.wrongly_billed <= 0.01  # at most 2 of 200 trays
    # Trays with a dish of an unknown colour must nearly always reach staff.
    assert summary.staff_unknown >= 0.9


def test_the_guesses_offered_to_staff(scored: Scored) -> None:
    # Billable trays the model sends to staff: the kiosk pre-selects each unsure dish's guess,
    # and for most of these trays the guesses are the exact bill, so staff only confirm: 49
    # of the 50 here with the committed pair (46 of 49 with the previous one, which also
    # confirmed 83.0 % of 483 validation trays from seed 1,050,000 and 71.9 % of 381
    # drawn-differently trays from seed 5,000,000).
    sent = [
        guess
        for guess, billed in zip(scored.guessed, scored.billed, strict=True)
        if billed.label.billable and billed.needs_staff
    ]
    assert len(sent) > 30
    assert sum(o.billed_exactly for o in sent) / len(sent) >= 0.7
