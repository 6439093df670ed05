"""The threshold search, on a few validation trays run through the committed model."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from models.traycolour import calibrate, seeds
from models.traycolour.metrics import summarise
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer


@pytest.fixture(scope="module")
def raws() -> list[calibrate.Raw]:
    return calibrate.collect(DEFAULT_MODEL_PATH, seeds.VALIDATION[:60], workers=1)


def test_committed_thresholds_are_on_the_grid(recognizer: TrayRecognizer) -> None:
    t = recognizer.thresholds
    assert t.detect in calibrate.DETECT
    assert t.doubt in calibrate.DOUBT
    assert t.min_confidence in calibrate.MIN_CONFIDENCE
    assert t.head_weight in calibrate.HEAD_WEIGHT
    assert t.not_a_dish in calibrate.NOT_A_DISH
    assert t.unsure_dish in calibrate.UNSURE_DISH


def test_the_search_beats_any_grid_point_within_the_bound(
    raws: list[calibrate.Raw], recognizer: TrayRecognizer
) -> None:
    committed = summarise([calibrate.outcome(r, recognizer.thresholds) for r in raws])
    chosen = calibrate.choose(raws, committed.wrongly_billed)
    found = summarise([calibrate.outcome(r, chosen) for r in raws])
    assert found.wrongly_billed <= committed.wrongly_billed
    assert found.handled_correctly >= committed.handled_correctly
    # The search scores with the fast path and the figures above come from the plain
    # decode-then-score path: the laxest confidence on the grid, everything else equal, must
    # bill more trays wrongly or handle no more right.
    lax = replace(chosen, min_confidence=calibrate.MIN_CONFIDENCE[0])
    loose = summarise([calibrate.outcome(r, lax) for r in raws])
    assert loose.sent_to_staff <= found.sent_to_staff
    assert (
        loose.wrongly_billed > committed.wrongly_billed
        or loose.handled_correctly <= found.handled_correctly
    )


def test_trays_judged_once_per_standing_of_their_peaks_come_out_the_same(
    raws: list[calibrate.Raw],
) -> None:
    # The search decides a tray again only when another setting keeps or calls sure other
    # peaks of it; what it reuses must be what deciding it afresh gives, on every setting.
    reused = 0
    for detect, head_weight, settings in calibrate.detection_settings(staged=True):
        evidence = [r.found.evidence(detect=detect, head_weight=head_weight) for r in raws]
        seen: list[dict[bytes, Any]] = [{} for _ in raws]
        for t in settings:
            before = sum(len(s) for s in seen)
            fresh = calibrate._judge(raws, evidence, t)
            kept = calibrate._judge(raws, evidence, t, seen)
            reused += len(raws) - (sum(len(s) for s in seen) - before)
            for field in dataclasses.fields(fresh):
                np.testing.assert_array_equal(
                    getattr(kept, field.name), getattr(fresh, field.name), err_msg=field.name
                )
    assert reused > 0


def test_rendering_processes_work_after_this_one_loaded_a_recogniser() -> None:
    # Loading a recogniser runs its self-test, whose area resize of a 960x540 frame starts
    # OpenCV's threads; children forked from such a process hung in their first OpenCV call
    # (the build's evaluation, after it wrote the self-test, and `recalibrate` did). A child
    # process, so that a hang is a timeout here rather than a stuck suite.
    script = (
        "from models.traycolour import calibrate, seeds\n"
        "from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer\n"
        "assert TrayRecognizer().self_test.state == 'passed'\n"
        "raws = calibrate.collect(DEFAULT_MODEL_PATH, seeds.VALIDATION[:6], workers=2)\n"
        "print(len(raws))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6"]
