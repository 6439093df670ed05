"""The crop-classifier study: the selective sweep's arithmetic, and a run on real trays."""

from __future__ import annotations

import numpy as np
import pytest

from models.traycolour import crop_study
from models.traycolour.crop_samples import NOT_A_DISH
from models.traycolour.crops import STRIP_ANGLES, STRIP_ROWS
from models.traycolour.palette import LABELS, UNKNOWN
from models.traycolour.runtime import TrayRecognizer

RED, BLUE, UNK = LABELS.index("red"), LABELS.index("blue"), LABELS.index(UNKNOWN)


def _log_probs(rows: list[tuple[int, float]]) -> np.ndarray:
    """One row per dish: the top label gets ``p``, the rest share what is left."""
    out = np.full((len(rows), len(LABELS)), 0.0)
    for k, (label, p) in enumerate(rows):
        out[k] = (1.0 - p) / (len(LABELS) - 1)
        out[k, label] = p
    return np.asarray(np.log(out))


def test_selective_counts_right_answers_within_each_wrong_budget() -> None:
    # Five dishes, most confident first: right red, wrong blue (truth red), right red,
    # an unknown dish called unknown, an unknown dish called red (wrong when answered).
    log_probs = _log_probs([(RED, 0.99), (BLUE, 0.95), (RED, 0.9), (UNK, 0.8), (RED, 0.6)])
    truth = np.array([RED, RED, RED, UNK, UNK])
    s = crop_study.selective(log_probs, truth, budgets=(0.0, 0.2, 0.4))
    assert s.dishes == 5
    assert s.top_right == pytest.approx(3 / 5)
    # No wrong answer allowed: only the first dish is answered (right), and both unknown
    # dishes come out unknown (right): 3 of 5.
    assert s.right_within[0.0] == pytest.approx(3 / 5)
    # One wrong allowed: answering down to the third dish gives two right colours, and the
    # unknowns stay right: 4 of 5. Answering the fifth would take a second wrong answer.
    assert s.right_within[0.2] == pytest.approx(4 / 5)
    # Two wrongs allowed: the fifth is answered red and its right `unknown` is lost.
    assert s.right_within[0.4] == pytest.approx(4 / 5)


def test_selective_of_no_dishes_is_not_a_number() -> None:
    s = crop_study.selective(np.zeros((0, len(LABELS))), np.zeros(0, np.int64))
    assert s.dishes == 0
    assert np.isnan(s.top_right)


def test_collect_cuts_the_run_time_strips_and_labels_them(recognizer: TrayRecognizer) -> None:
    model = recognizer.model_files[0]
    found = crop_study.collect(
        "synth", range(crop_study.SYNTH_START, crop_study.SYNTH_START + 3), model, workers=1
    )
    assert found.crops.shape[1:] == (STRIP_ROWS, STRIP_ANGLES, 3)
    assert len(found.crops) == len(found.references) == len(found.labels) >= 3
    dishes = found.labels != NOT_A_DISH
    assert dishes.sum() >= 3
    # The committed crop classifier, studied alone, gets most of these crops right.
    crop_model = recognizer.model_files[1]
    log_probs = crop_study.colour_log_probs(
        [crop_model], found.crops[dishes], found.references[dishes]
    )
    assert np.mean(log_probs.argmax(axis=1) == found.labels[dishes]) >= 0.6
    # An ensemble of a model with itself is the model.
    pair = crop_study.colour_log_probs(
        [crop_model, crop_model], found.crops[dishes], found.references[dishes]
    )
    np.testing.assert_allclose(pair, log_probs, atol=1e-9)


def test_main_prints_both_sets(
    capsys: pytest.CaptureFixture[str], recognizer: TrayRecognizer
) -> None:
    code = crop_study.main([str(recognizer.model_files[1]), "--n", "2", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "synth (seeds 1050000..1050001)" in out
    assert "alt (seeds 5000000..5000001)" in out
    assert "top label right" in out
    assert out.count("crops.onnx: ") == 2  # one model: no ensemble line


def test_main_rejects_a_missing_model(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        crop_study.main(["/nonexistent/crops.onnx"])
    assert raised.value.code == 2
    assert "no such model file" in capsys.readouterr().err
