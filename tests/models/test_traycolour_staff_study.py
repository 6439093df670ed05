"""The staff study: its counts add up to the trays and dishes it was given, on real trays."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.traycolour import calibrate, seeds, staff_study
from models.traycolour.calibrate import Raw
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer


@pytest.fixture(scope="module")
def raws() -> list[Raw]:
    start = staff_study.SEED_START
    assert start in seeds.VALIDATION
    return calibrate.collect(DEFAULT_MODEL_PATH, range(start, start + 40), workers=1)


def test_the_counts_cover_every_billable_tray_and_matched_dish(
    raws: list[Raw], recognizer: TrayRecognizer
) -> None:
    t = recognizer.thresholds
    s = staff_study.study(raws, t)
    billable = [r for r in raws if r.label.billable]
    assert s.billable == len(billable) > 0
    assert sum(s.sent.values()) == s.billable
    billed = sum(
        1
        for r in billable
        if not calibrate.outcome(r, t).needs_staff  # what the run time would do
    )
    assert sum(n for reasons, n in s.sent.items() if reasons.startswith("billed")) == billed
    dishes = sum(len(r.label.items) for r in raws)
    matched = len(s.right_confidence) + len(s.wrong_confidence)
    assert matched + sum(s.missed.values()) == dishes
    sure_wrong = sum(1 for c in s.wrong_confidence if c >= t.min_confidence)
    assert sum(s.sure_mistakes.values()) <= sure_wrong
    assert s.staff_billable == s.billable - billed
    assert 0 < s.guesses_exact <= s.staff_billable  # some guesses are the bill
    text = staff_study.format_study(s, t)
    assert f"billable trays: {s.billable}" in text
    assert "top label right" in text


def test_a_stricter_confidence_sends_more_trays_for_unsure_colours(
    raws: list[Raw], recognizer: TrayRecognizer
) -> None:
    t = recognizer.thresholds

    def unsure(min_confidence: float) -> int:
        s = staff_study.study(raws, replace(t, min_confidence=min_confidence))
        return sum(n for reasons, n in s.sent.items() if "colour not sure enough" in reasons)

    assert unsure(0.0) <= unsure(t.min_confidence) < unsure(0.999999)
