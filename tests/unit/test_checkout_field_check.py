"""``tianshan checkout field-check``: a model pair on the frames staff corrected at the kiosk.

The folder is made the way the box makes it: a tray replayed through the pipeline and
corrected by staff, plus frames labelled with their true colours in the same format, plus
labels that cannot be used.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import cv2
import pytest

from edge.checkout.field_check import BILLED_RIGHT, BILLED_WRONGLY, TO_STAFF, outcome
from edge.checkout.frames import Frame
from edge.checkout.scenes import scene_frames
from models.traycolour.runtime import TrayRecognizer, load_image
from models.traycolour.synth import render_tray
from tests.checkout_support import pipelines, recorded, tianshan
from wire.checkout import TRANSACTION, CheckoutTransaction

# Held-out seeds (models.traycolour.seeds): neither training nor calibration saw them.
CORRECTED_SEED = 2_001_000
LABELLED_SEEDS = range(2_001_200, 2_001_212)


@pytest.fixture(scope="module")
def recognizer() -> TrayRecognizer:
    return TrayRecognizer()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, recognizer: TrayRecognizer) -> Path:
    root = tmp_path_factory.mktemp("box")
    with pipelines(root, recognizer) as make:
        box = make()
        for index, (image, _) in enumerate(scene_frames([CORRECTED_SEED])):
            box.process(Frame(index, time.time(), image))
        (event,) = recorded(box, TRANSACTION)
        tx = CheckoutTransaction.model_validate(event.data)
        box.correct(tx.transaction_id, ["black"] * len(tx.items), staff="li")
    labelled = root / "co-1" / "checkout" / "labelled"
    assert len(list(labelled.glob("*.json"))) == 1
    for seed in LABELLED_SEEDS:
        frame, label = render_tray(seed, size=(640, 480))
        if not label.billable:  # staff can only name plate colours
            continue
        cv2.imwrite(str(labelled / f"tray-{seed}.jpg"), frame)
        said = [item.colour for item in label.items]
        (labelled / f"tray-{seed}.json").write_text(json.dumps({"staff_said": said}))
    (labelled / "pink.jpg").write_bytes(next(labelled.glob("tray-*.jpg")).read_bytes())
    (labelled / "pink.json").write_text(json.dumps({"staff_said": ["pink"]}))
    (labelled / "broken.json").write_text('{"staff_said": ["red"')
    (labelled / "no-frame.json").write_text(json.dumps({"staff_said": ["red"]}))
    (labelled / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    (labelled / "corrupt.json").write_text(json.dumps({"staff_said": ["red"]}))
    return labelled


def test_each_frame_is_judged_as_the_pair_would_bill_it(
    folder: Path, recognizer: TrayRecognizer
) -> None:
    done = tianshan("checkout", "field-check", folder, "--json", timeout=300)
    assert done.returncode == 1, "unreadable frames show in the exit status"
    report = json.loads(done.stdout)
    assert report["model_version"] == recognizer.model_version
    unusable = {"pink.json", "broken.json", "no-frame.json", "corrupt.json"}
    assert set(report["unreadable"]) == unusable
    assert "plate colours" in report["unreadable"]["pink.json"]
    assert "frame no-frame.jpg is missing" in report["unreadable"]["no-frame.json"]
    trays = report["trays"]
    assert len(trays) == report["frames"] == len(list(folder.glob("*.json"))) - 4
    assert len(trays) >= 8
    for tray in trays:
        result = recognizer.recognize(load_image(tray["image"]))
        assert tray["colours"] == [i.colour for i in result.items]
        assert tray["guesses"] == [i.guess for i in result.items]
        expected = outcome(result.needs_staff, tuple(tray["colours"]), tuple(tray["staff_said"]))
        assert tray["outcome"] == expected
    counts = Counter(t["outcome"] for t in trays)
    assert [report[k] for k in (BILLED_RIGHT, BILLED_WRONGLY, TO_STAFF)] == [
        counts[BILLED_RIGHT],
        counts[BILLED_WRONGLY],
        counts[TO_STAFF],
    ]
    assert counts[BILLED_RIGHT] > 0, "most held-out trays are billed right"
    # The corrected tray says what the model in use did; the others do not.
    (corrected,) = [t for t in trays if t["then"] is not None]
    assert corrected["then_model_version"] == recognizer.model_version
    assert corrected["staff_said"] == ["black"] * len(corrected["colours"])
    assert corrected["then"] == corrected["outcome"]  # the same pair, then and now


def test_the_text_summary_and_clear_refusals(folder: Path, tmp_path: Path) -> None:
    done = tianshan("checkout", "field-check", folder, timeout=300)
    assert done.returncode == 1
    assert BILLED_RIGHT in done.stdout
    assert "this pair" in done.stdout
    assert "unreadable: broken.json: not a readable JSON label" in done.stdout
    missing = tianshan("checkout", "field-check", tmp_path / "nowhere", timeout=300)
    assert missing.returncode == 2
    assert "is not a folder" in missing.stderr
    empty = tianshan("checkout", "field-check", tmp_path, timeout=300)
    assert empty.returncode == 2
    assert "no labelled frames" in empty.stderr
