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


def test_a_check_that_catches_trays_lets_the_search_bill_no_fewer_others(
    raws: list[Raw], recognizer: TrayRecognizer
) -> None:
    # Catching trays outside the thresholds can only take wrong bills away, so the search
    # under it finds thresholds handling at least as many choosing trays right; the caught
    # trays are never billed.
    found = {w.name: w for w in staff_study.what_ifs(raws, recognizer.thresholds)}
    assert list(found) == list(staff_study.WHAT_IFS)
    as_built, caught = found["as built"], found["every dish of an unknown kind caught"]
    assert caught.choosing.handled_correctly >= as_built.choosing.handled_correctly
    half = len(raws) // 2
    assert caught.choosing.trays == half
    assert caught.checking.trays == len(raws) - half
    # Only billable trays can be billed once every tray with an unknown dish is caught.
    if any(not r.label.billable for r in raws[half:]):
        assert caught.checking.staff_unknown == 1.0
    text = staff_study.format_what_ifs(list(found.values()), half, len(raws) - half)
    assert "every patterned dish caught" in text


def test_choose_sends_the_caught_trays_to_staff(raws: list[Raw]) -> None:
    # With no bound on wrong bills the search bills as many trays right as it can, at a
    # lax confidence. With every tray caught nothing can be billed: every setting handles
    # the same trays right, and the tie goes to the strictest confidence on the grid.
    strictest = max(calibrate.MIN_CONFIDENCE)
    assert calibrate.choose(raws, 1.0).min_confidence < strictest
    every = calibrate.choose(raws, 1.0, caught=[True] * len(raws))
    assert every.min_confidence == strictest


def test_choose_refuses_flags_that_do_not_fit_the_trays(raws: list[Raw]) -> None:
    with pytest.raises(ValueError, match="flags for"):
        calibrate.choose(raws, 0.0025, caught=[True])


def test_a_missed_dish_is_one_no_sure_dish_was_found_for(
    raws: list[Raw], recognizer: TrayRecognizer
) -> None:
    t = recognizer.thresholds
    # With nothing sure, every tray with a dish misses one. With every peak a sure dish
    # (nothing dropped, nothing doubtful), no more trays miss one than under the model's
    # thresholds (a dish matches only a prediction within half its radius, and dishes do not
    # overlap, so more predictions cannot match fewer dishes), and far from every tray does.
    nothing_sure = replace(t, detect=1.01)
    assert all(staff_study.missed_a_dish(r, nothing_sure) for r in raws if r.label.items)
    everything = replace(t, detect=t.doubt, not_a_dish=1.01, unsure_dish=1.01)
    lax = sum(staff_study.missed_a_dish(r, everything) for r in raws)
    assert lax <= sum(staff_study.missed_a_dish(r, t) for r in raws) < len(raws)
    # The what-if that catches them sends exactly those trays to staff.
    rule = staff_study.WHAT_IFS["every missed dish caught"]
    missed = [staff_study.missed_a_dish(r, t) for r in raws]
    assert [rule(r.label, m) for r, m in zip(raws, missed, strict=True)] == missed
