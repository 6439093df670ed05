"""REPORT.md: the evaluation's figures as Markdown, each with the command that reproduces it."""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

from models.traycolour.metrics import (
    Summary,
    TrayOutcome,
    confusion,
    group_by,
    item_accuracy_by,
    summarise,
)
from models.traycolour.palette import LABELS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from models.traycolour.evaluate import Latency
    from models.traycolour.labels import ItemLabel

TARGET_ITEM_ACCURACY = 0.99
TARGET_BILLED_EXACTLY = 0.97
TARGET_WRONGLY_BILLED = 0.005
TARGET_LATENCY_MS = 8.0
TARGET_MODEL_MB = 5.0


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100.0 * x:.2f} %"  # NaN: an empty group


def _kelvin_bucket(o: TrayOutcome) -> str:
    k = o.label.colour_temperature_k
    edges = ((3500, "3000-3500 K"), (4500, "3500-4500 K"), (5500, "4500-5500 K"))
    return next((name for edge, name in edges if k < edge), "5500-6500 K")


def _brightness_bucket(o: TrayOutcome) -> str:
    b = o.label.brightness
    return "0.6-0.8 (dim)" if b < 0.8 else ("1.2-1.4 (bright)" if b >= 1.2 else "0.8-1.2")


def _coverage_bucket(item: ItemLabel) -> str:
    c = item.food_coverage
    return "< 50 %" if c < 0.5 else ("50-70 %" if c < 0.7 else ">= 70 %")


def _tray_table(
    outcomes: Sequence[TrayOutcome], key: Callable[[TrayOutcome], str], title: str
) -> list[str]:
    lines = [
        f"| {title} | trays | item accuracy | billed exactly (billable) "
        "| wrongly billed | sent to staff |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, group in group_by(outcomes, key).items():
        s = summarise(group)
        lines.append(
            f"| {name} | {s.trays} | {_pct(s.item_accuracy)} | {_pct(s.billed_exactly)} "
            f"| {_pct(s.wrongly_billed)} | {_pct(s.sent_to_staff)} |"
        )
    return lines


def _item_table(
    outcomes: Sequence[TrayOutcome], key: Callable[[ItemLabel], str], title: str
) -> list[str]:
    lines = [f"| {title} | matched dishes | colour accuracy |", "|---|---:|---:|"]
    for name, (n, acc) in item_accuracy_by(outcomes, key).items():
        lines.append(f"| {name} | {n} | {_pct(acc)} |")
    return lines


def _confusion_table(outcomes: Sequence[TrayOutcome]) -> list[str]:
    matrix = confusion(outcomes)
    header = "| truth \\ answer | " + " | ".join(LABELS) + " | missed |"
    lines = [header, "|---" * (len(LABELS) + 2) + "|"]
    for row, name in enumerate(LABELS):
        cells = " | ".join(str(int(v)) for v in matrix.counts[row])
        lines.append(f"| **{name}** | {cells} |")
    return lines


def _summary_table(s: Summary) -> list[str]:
    rows = (
        (
            "trays (billable / with an unknown dish)",
            f"{s.trays} ({s.billable_trays} / {s.trays - s.billable_trays})",
        ),
        ("dishes (matched to a prediction)", f"{s.items} ({s.matched_items})"),
        ("item colour accuracy, matched dishes incl. unknown", _pct(s.item_accuracy)),
        ("item colour accuracy, dishes of the eight colours", _pct(s.billable_item_accuracy)),
        (
            "item colour accuracy of the network's top label, before the thresholds",
            _pct(s.top_item_accuracy),
        ),
        ("dishes of unknown colour answered unknown", _pct(s.unknown_item_recall)),
        (
            "dish detection recall / precision",
            f"{_pct(s.detection_recall)} / {_pct(s.detection_precision)}",
        ),
        ("billable trays billed exactly right", _pct(s.billed_exactly)),
        ("trays wrongly billed without needs_staff (all trays)", _pct(s.wrongly_billed)),
        ("trays sent to staff (all trays)", _pct(s.sent_to_staff)),
        ("billable trays sent to staff (false alarms)", _pct(s.staff_billable)),
        ("trays with an unknown dish sent to staff", _pct(s.staff_unknown)),
        ("trays handled correctly (exact bill or staff when due)", _pct(s.handled_correctly)),
    )
    return ["| figure | value |", "|---|---:|", *(f"| {a} | {b} |" for a, b in rows)]


def _breakdowns(outcomes: Sequence[TrayOutcome]) -> list[str]:
    out: list[str] = []
    sections: list[tuple[str, list[str]]] = [
        ("By colour temperature", _tray_table(outcomes, _kelvin_bucket, "light")),
        ("By brightness", _tray_table(outcomes, _brightness_bucket, "brightness")),
        ("By number of dishes", _tray_table(outcomes, lambda o: str(len(o.label.items)), "dishes")),
        ("By tray material", _tray_table(outcomes, lambda o: o.label.tray_material, "tray")),
        (
            "By frame size",
            _tray_table(outcomes, lambda o: f"{o.label.width}x{o.label.height}", "frame"),
        ),
        ("By food coverage (per dish)", _item_table(outcomes, _coverage_bucket, "food cover")),
        ("By dish shape", _item_table(outcomes, lambda it: it.shape, "shape")),
        ("By how the food lies", _item_table(outcomes, lambda it: it.food_layout, "food")),
        (
            "By what was drawn (unknown kinds must answer unknown)",
            _item_table(outcomes, lambda it: it.family, "drawn as"),
        ),
        (
            "Confusion matrix (matched dishes; last column: true dishes with no prediction)",
            _confusion_table(outcomes),
        ),
    ]
    for title, table in sections:
        out += [f"#### {title}", "", *table, ""]
    return out


def _check(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def headline(held_out: Sequence[TrayOutcome], alt: Sequence[TrayOutcome], latency: Latency) -> str:
    """A few lines for the console."""
    lines = []
    for name, outcomes in (("held-out", held_out), ("drawn differently", alt)):
        if not outcomes:
            continue
        s = summarise(outcomes)
        lines.append(
            f"  {name}: item accuracy {_pct(s.item_accuracy)}, billed exactly "
            f"{_pct(s.billed_exactly)}, wrongly billed {_pct(s.wrongly_billed)}, "
            f"to staff {_pct(s.sent_to_staff)}"
        )
    lines.append(
        f"  latency 640x480, 1 thread: median {latency.median_ms:.2f} ms, "
        f"p95 {latency.p95_ms:.2f} ms"
    )
    return "\n".join(lines)


def render(
    *,
    model_files: Sequence[Path],
    precision: Sequence[str],
    held_out: Sequence[TrayOutcome],
    held_out_seed: int,
    alt: Sequence[TrayOutcome],
    alt_seed: int,
    latency: Latency,
    machine: str,
    command: str,
    minutes: float,
) -> str:
    """The whole REPORT.md."""
    files = []
    size_mb = 0.0
    for path, arithmetic in zip(model_files, precision, strict=True):
        data = path.read_bytes()
        size_mb += len(data) / 1e6
        files.append(
            f"`{path.name}`, sha256 `{hashlib.sha256(data).hexdigest()}`, {len(data) / 1e6:.2f} MB"
            f", {arithmetic}"
        )
    s = summarise(held_out)
    lines = [
        "# Tray-colour model: evaluation report",
        "",
        "Generated by `models/traycolour/evaluate.py`; every figure below was measured by the",
        "command under it, on the machine named here. Do not edit by hand.",
        "",
        *(f"- Model: {f}" for f in files),
        f"- Machine: {machine}",
        f"- Command: `{command}` ({minutes:.1f} min)",
        "",
        "## Acceptance targets (held-out set, training renderer)",
        "",
        "| target | required | measured | |",
        "|---|---:|---:|---|",
        f"| item colour accuracy (matched dishes) | >= 99 % | {_pct(s.item_accuracy)} "
        f"| {_check(s.item_accuracy >= TARGET_ITEM_ACCURACY)} |",
        f"| billable trays billed exactly right | >= 97 % | {_pct(s.billed_exactly)} "
        f"| {_check(s.billed_exactly >= TARGET_BILLED_EXACTLY)} |",
        f"| trays wrongly billed without needs_staff | <= 0.5 % | {_pct(s.wrongly_billed)} "
        f"| {_check(s.wrongly_billed <= TARGET_WRONGLY_BILLED)} |",
        f"| median recognize latency, 640x480, 1 thread | <= 8 ms | {latency.median_ms:.2f} ms "
        f"| {_check(latency.median_ms <= TARGET_LATENCY_MS)} |",
        f"| model files together | <= 5 MB | {size_mb:.2f} MB "
        f"| {_check(size_mb <= TARGET_MODEL_MB)} |",
        "",
        "Definitions. A prediction matches a true dish when its centre lies within half the dish's",
        "radius of the true centre (greedy, nearest first). *Item colour accuracy*: matched dishes",
        "whose answer (one of the eight colours or `unknown`) equals the truth. *Billed exactly",
        "right*: among trays whose dishes are all of the eight colours, the tray was not sent to",
        "staff, no dish was missed or added, and the multiset of colours equals the truth. A tray",
        "holding an unknown dish can never be billed, so it is excluded from that figure and",
        "counted under *trays with an unknown dish sent to staff*. *Wrongly billed*: over all",
        "trays, not sent to staff and the billed multiset differs from the truth.",
        "",
        f"## Held-out set: training renderer, seeds {held_out_seed}.."
        f"{held_out_seed + len(held_out) - 1}",
        "",
        "Same generator as training (`synth.py`), seeds that neither training nor threshold",
        "calibration used; frames 320x240 to 1920x1080, mostly 640x480.",
        "",
        *_summary_table(s),
        "",
        *_breakdowns(held_out),
    ]
    if alt:
        a = summarise(alt)
        lines += [
            f"## Drawn-differently set: `synth_alt.py`, seeds {alt_seed}.."
            f"{alt_seed + len(alt) - 1}",
            "",
            "An independent renderer used only here, never for training or calibration: other",
            "shading, plate proportions, textures, tray materials, colour shades, light and",
            "camera models (see its docstring). These figures say how far the model carries",
            "beyond its own generator's look.",
            "",
            *_summary_table(a),
            "",
            *_breakdowns(alt),
        ]
    lines += [
        "## Latency",
        "",
        "`TrayRecognizer(threads=1).recognize` on 640x480 frames (letterbox + inference +",
        f"decoding; image decoding excluded): median **{latency.median_ms:.2f} ms**, p95",
        f"**{latency.p95_ms:.2f} ms** over {latency.runs} calls ({command}). The benchmark",
        "`python -m bench.checkout` measures the same with its own frames, plus memory.",
        "",
    ]
    return "\n".join(lines)
