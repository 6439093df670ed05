"""Why billable trays go to staff: the model's own thresholds taken apart on validation trays.

    python -m models.traycolour.staff_study [--model traycolour.onnx] [--n 2000] [--what-if]

For the trays whose dishes are all of the eight colours (a tray a perfect model would bill):

* which check sent them to staff: a dish answered unknown, a dish whose colour is not sure
  enough (below ``min_confidence``, or the per-cell vote disagreeing), a doubtful peak; and
  where a dish was missed or one added (billed so, the tray is billed wrongly);
* where the doubtful peaks lie (on a true dish that no sure peak took, on a dish already
  taken, or on no dish: a receipt, a heap of food, a napkin) and what the crop
  classifier's "not a dish" probability says of each kind, since that is what a rule to drop
  them would have to go on;

and, over all matched dishes, how the top label's confidence ranks right answers above wrong
ones (the share of right answers a threshold turns unknown, against the wrong ones it lets
through), which dishes were given a wrong colour surely enough to be billed, and which
colours the missed dishes had.

With ``--what-if``, what a check the model does not have would be worth: the thresholds are
chosen again (``calibrate.choose``, the build's wrong-bill budget) on the first half of the
trays as if some trays went to staff whatever the thresholds say, and the second half is
billed under them the same way: every tray with a patterned dish; with a dish of any unknown
kind; with a dish the model as built misses; and each of the first two with the third. The
gap to the model as built is what a perfect such check would buy: the thresholds loosen once
those trays no longer have to be kept from a wrong bill by the colour's confidence.

Validation seeds from 1,050,000 by default: the threshold calibration uses the first 4,000
(``calibrate.VALIDATION_TRAYS``), the held-out and drawn-differently sets are elsewhere.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from models.traycolour.calibrate import MAX_WRONG, choose, collect, outcome
from models.traycolour.decode import Decoded, Evidence, Thresholds, decide, standing
from models.traycolour.metrics import Prediction, Summary, TrayOutcome, match_items, summarise
from models.traycolour.palette import UNKNOWN
from models.traycolour.runtime import DEFAULT_MODEL_PATH, TrayRecognizer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from models.traycolour.calibrate import Raw
    from models.traycolour.labels import TrayLabel

SEED_START: Final = 1_050_000
#: Confidence thresholds at which the ranking of right and wrong answers is shown.
RANKING_AT: Final = (0.9, 0.99, 0.998, 0.999)
#: A doubtful peak within this share of a true dish's radius of its centre lies on it.
ON_DISH: Final = 0.5


def _patterned(label: TrayLabel) -> bool:
    return any(item.family == "patterned" for item in label.items)


def missed_a_dish(raw: Raw, t: Thresholds) -> bool:
    """True when a true dish of ``raw`` has no sure dish of ``t``'s decision within half its
    radius: the model found nothing there, or only a doubtful peak, or dropped what it found
    as "not a dish"."""
    return outcome(raw, t).missed > 0


#: The what-if studies: which trays a perfect check that the model lacks would send to staff,
#: given a tray's truth and whether the model as built misses one of its dishes
#: (``missed_a_dish`` under its own thresholds: that check stands for a perfect count of the
#: dishes beside the model's own).
WHAT_IFS: Final[dict[str, Callable[[TrayLabel, bool], bool]]] = {
    "as built": lambda label, missed: False,
    "every patterned dish caught": lambda label, missed: _patterned(label),
    "every dish of an unknown kind caught": lambda label, missed: not label.billable,
    "every missed dish caught": lambda label, missed: missed,
    "patterned and missed dishes caught": lambda label, missed: _patterned(label) or missed,
    "unknown kinds and missed dishes caught": lambda label, missed: not label.billable or missed,
}


@dataclass
class Study:
    """What the thresholds did to a set of trays (counts; ``format_study`` writes them out)."""

    billable: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # billable trays by reason set
    doubtful_not_dish: dict[str, list[float]] = field(default_factory=dict)  # by where
    right_confidence: list[float] = field(default_factory=list)
    wrong_confidence: list[float] = field(default_factory=list)
    missed: Counter[str] = field(default_factory=Counter)  # true dishes unmatched, by colour
    #: Wrong top labels sure enough to be billed (at or above ``min_confidence``), by what was
    #: drawn and what was answered: the mistakes that decide how strict the threshold must be.
    sure_mistakes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Billable trays sent to staff, and those of them whose guesses (each dish's top label
    #: before the thresholds, which the kiosk pre-selects) are the exact bill.
    staff_billable: int = 0
    guesses_exact: int = 0


def _staff_checks(decoded: Decoded, t: Thresholds) -> list[str]:
    """Which of the model's checks sent a tray to staff (none: it was billed)."""
    checks = []
    if any(d.colour == UNKNOWN and d.best == UNKNOWN for d in decoded.dishes):
        checks.append("a dish answered unknown")
    if any(d.colour == UNKNOWN and d.best != UNKNOWN for d in decoded.dishes):
        checks.append("colour not sure enough")
    if decoded.doubtful_peaks:
        checks.append("doubtful peak")
    if not decoded.dishes:
        checks.append("no dish")
    if len(decoded.dishes) > t.max_items:
        checks.append(f"more than {t.max_items} dishes")
    return checks


def _doubtful_places(raw: Raw, evidence: Evidence, t: Thresholds) -> list[tuple[str, float]]:
    """Each doubtful peak of a tray: where it lies and its "not a dish" probability."""
    box = raw.found.box
    peaks, not_dish = evidence.peaks, evidence.not_dish
    kept, sure = standing(evidence, t)
    sure_centres = [box.to_frame(peaks.cx[j], peaks.cy[j]) for j in np.nonzero(sure)[0]]
    places = []
    for k in np.nonzero(kept & ~sure)[0]:
        x, y = box.to_frame(peaks.cx[k], peaks.cy[k])
        place = "on no dish"
        for item in raw.label.items:
            (cx, cy), r = item.centre, item.radius
            if np.hypot(x - cx, y - cy) < ON_DISH * r:
                taken = any(np.hypot(sx - cx, sy - cy) < ON_DISH * r for sx, sy in sure_centres)
                place = "on a dish a sure peak took" if taken else "on a dish no sure peak took"
                break
        places.append((place, float(not_dish[k])))
    return places


def study(raws: Sequence[Raw], t: Thresholds) -> Study:
    """Take ``t``'s decisions on ``raws`` apart."""
    out = Study()
    for raw in raws:
        evidence = raw.found.evidence(detect=t.detect, head_weight=t.head_weight)
        decoded = decide(evidence, t)
        predicted = [
            Prediction(d.colour, raw.found.box.to_frame(d.cx, d.cy)) for d in decoded.dishes
        ]
        matches = match_items(raw.label.items, predicted)
        for truth, pred in matches:
            dish = decoded.dishes[pred]
            item = raw.label.items[truth]
            right = dish.best == item.colour
            (out.right_confidence if right else out.wrong_confidence).append(dish.confidence)
            if not right and dish.best != UNKNOWN and dish.confidence >= t.min_confidence:
                out.sure_mistakes[(item.family, dish.best)] += 1
        matched = {truth for truth, _ in matches}
        out.missed.update(item.colour for i, item in enumerate(raw.label.items) if i not in matched)
        if not raw.label.billable:
            continue
        out.billable += 1
        checks = _staff_checks(decoded, t)
        reasons = checks or ["billed"]
        if len(predicted) > len(matches):
            reasons.append("extra dish")
        if len(raw.label.items) > len(matches):
            reasons.append("missed dish")
        out.sent[" + ".join(reasons)] += 1
        if checks:
            out.staff_billable += 1
            pairs = zip(decoded.dishes, predicted, strict=True)
            guesses = [Prediction(d.best, p.centre) for d, p in pairs]
            guessed = TrayOutcome.score(raw.label, guesses, False, 0.0)
            out.guesses_exact += guessed.billed_exactly
        for place, not_dish in _doubtful_places(raw, evidence, t):
            out.doubtful_not_dish.setdefault(place, []).append(not_dish)
    return out


def format_study(s: Study, t: Thresholds) -> str:
    """The study as text."""
    lines = [f"thresholds: {t.to_json()}", "", f"billable trays: {s.billable}"]
    for reasons, n in s.sent.most_common():
        lines.append(f"  {reasons:70s} {n:5d}  {100 * n / max(s.billable, 1):6.2f} %")
    lines.append(
        f"  sent to staff: {s.staff_billable}; the guesses offered to staff are the exact "
        f"bill for {s.guesses_exact} "
        f"({100 * s.guesses_exact / max(s.staff_billable, 1):.1f} %)"
    )
    lines += ["", "doubtful peaks in billable trays, and their 'not a dish' probability:"]
    for place, values in sorted(s.doubtful_not_dish.items()):
        q = np.quantile(values, (0.1, 0.25, 0.5, 0.9))
        lines.append(
            f"  {place:30s} {len(values):4d}  quantiles 10/25/50/90 %: "
            + " / ".join(f"{v:.3g}" for v in q)
        )
    right, wrong = np.array(s.right_confidence), np.array(s.wrong_confidence)
    total = len(right) + len(wrong)
    lines += [
        "",
        f"matched dishes: {total}, top label right {100 * len(right) / max(total, 1):.2f} %",
    ]
    for at in RANKING_AT:
        lines.append(
            f"  confidence threshold {at}: right answers turned unknown "
            f"{100 * float(np.mean(right < at)) if len(right) else 0.0:.1f} %, "
            f"wrong ones let through {int(np.sum(wrong >= at))}"
        )
    mistakes = ", ".join(
        f"{drawn} as {said}: {n}" for (drawn, said), n in s.sure_mistakes.most_common()
    )
    lines += [
        f"  colours answered wrongly at or above min_confidence ({t.min_confidence}), "
        f"by what was drawn: {mistakes or 'none'}",
        "",
        f"missed dishes: {sum(s.missed.values())}, by true colour: {dict(s.missed)}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class WhatIf:
    """One what-if: the thresholds chosen under it, and the trays billed under both."""

    name: str
    thresholds: Thresholds
    choosing: Summary
    checking: Summary


def _billed_under(raws: Sequence[Raw], t: Thresholds, caught: Sequence[bool]) -> Summary:
    outcomes = [outcome(r, t) for r in raws]
    return summarise(
        [replace(o, needs_staff=True) if c else o for o, c in zip(outcomes, caught, strict=True)]
    )


def what_ifs(raws: Sequence[Raw], built: Thresholds, max_wrong: float = MAX_WRONG) -> list[WhatIf]:
    """Each of ``WHAT_IFS`` (its trays caught as judged under ``built``, the model's own
    thresholds): thresholds chosen on the first half of ``raws`` (at most ``max_wrong`` of
    them wrongly billed), those trays and the second half billed under them."""
    half = len(raws) // 2
    if half < 1:
        msg = "the what-if studies need at least two trays"
        raise ValueError(msg)
    choosing, checking = raws[:half], raws[half:]
    missed = [missed_a_dish(r, built) for r in raws]  # once per tray, for every what-if
    out = []
    for name, rule in WHAT_IFS.items():
        caught = [rule(r.label, m) for r, m in zip(raws, missed, strict=True)]
        caught_a, caught_b = caught[:half], caught[half:]
        t = choose(choosing, max_wrong, caught=caught_a)
        out.append(
            WhatIf(
                name,
                t,
                _billed_under(choosing, t, caught_a),
                _billed_under(checking, t, caught_b),
            )
        )
    return out


def format_what_ifs(found: Sequence[WhatIf], n_choosing: int, n_checking: int) -> str:
    """The what-if studies as text."""
    lines = [
        "",
        f"what a check the model lacks would buy (thresholds chosen on the first {n_choosing} "
        f"trays, billed exactly / wrongly on them and on the other {n_checking}):",
    ]
    for w in found:
        lines.append(
            f"  {w.name:40s} min_confidence {w.thresholds.min_confidence:<7g}"
            f" choosing {100 * w.choosing.billed_exactly:6.2f} / "
            f"{100 * w.choosing.wrongly_billed:.2f} %"
            f"  checking {100 * w.checking.billed_exactly:6.2f} / "
            f"{100 * w.checking.wrongly_billed:.2f} %"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.traycolour.staff_study",
        description="Why billable validation trays go to staff under the model's thresholds.",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH, help="first network")
    parser.add_argument("--n", type=int, default=2000, help="validation trays")
    parser.add_argument("--seed", type=int, default=SEED_START, help="first validation seed")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="also choose the thresholds again as if the model caught every patterned dish, "
        "every dish of an unknown kind, every dish it misses, or each of the first two with "
        "the third, and bill the second half of the trays under them (about 45 s more for "
        "2,000 trays; on so few the choice is noisy: 6,000 or more give steadier figures)",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.what_if and args.n < 2:
        parser.error("--what-if needs --n of at least 2")
    t = TrayRecognizer(args.model).thresholds
    seeds = range(args.seed, args.seed + args.n)
    raws = collect(args.model, seeds, args.workers, label="validation trays")
    sys.stdout.write(format_study(study(raws, t), t))
    if args.what_if:
        half = len(raws) // 2
        sys.stdout.write(format_what_ifs(what_ifs(raws, t), half, len(raws) - half))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
