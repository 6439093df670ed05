"""Scoring recognitions against the ground truth: matching, per-tray outcomes, summaries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from models.traycolour.palette import LABELS, UNKNOWN

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from models.traycolour.labels import ItemLabel, TrayLabel

#: A prediction matches a true dish when its centre lies within this share of the true radius.
MATCH_RADIUS = 0.5


class PredictedItem(Protocol):
    """What the scoring needs of a recognised item; ``runtime.Item`` is one."""

    @property
    def colour(self) -> str:
        """One of the eight colours or "unknown"."""

    @property
    def centre(self) -> tuple[float, float]:
        """Frame pixel coordinates."""


@dataclass(frozen=True)
class Prediction:
    """A plain predicted item, for scoring without a ``runtime.Item``."""

    colour: str
    centre: tuple[float, float]


def match_items(
    truth: Sequence[ItemLabel], predicted: Sequence[PredictedItem]
) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by centre distance, nearest pairs first."""
    pairs = []
    for i, t in enumerate(truth):
        for j, p in enumerate(predicted):
            d = float(np.hypot(t.centre[0] - p.centre[0], t.centre[1] - p.centre[1]))
            if d <= MATCH_RADIUS * t.radius:
                pairs.append((d, i, j))
    pairs.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    matches = []
    for _, i, j in pairs:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            matches.append((i, j))
    return matches


@dataclass(frozen=True)
class TrayOutcome:
    """One tray's truth, answer and how they compare."""

    label: TrayLabel
    colours: tuple[str, ...]  # predicted, one per recognised item
    centres: tuple[tuple[float, float], ...]
    needs_staff: bool
    seconds: float  # recognize() wall time
    matches: tuple[tuple[int, int], ...]
    top_colours: tuple[str, ...] = ()  # per prediction: the network's top label, no threshold

    @classmethod
    def score(
        cls,
        label: TrayLabel,
        predicted: Sequence[PredictedItem],
        needs_staff: bool,
        seconds: float,
        top_colours: Sequence[str] = (),
    ) -> TrayOutcome:
        """Match the prediction against ``label``."""
        return cls(
            label=label,
            colours=tuple(p.colour for p in predicted),
            centres=tuple(p.centre for p in predicted),
            needs_staff=needs_staff,
            seconds=seconds,
            matches=tuple(match_items(label.items, predicted)),
            top_colours=tuple(top_colours),
        )

    @property
    def missed(self) -> int:
        """True dishes with no prediction."""
        return len(self.label.items) - len(self.matches)

    @property
    def extra(self) -> int:
        """Predictions with no true dish."""
        return len(self.colours) - len(self.matches)

    @property
    def bill_matches_truth(self) -> bool:
        """The multiset of predicted colours equals the true one."""
        return Counter(self.colours) == Counter(it.colour for it in self.label.items)

    @property
    def billed_exactly(self) -> bool:
        """Billed without staff, right colours, no missed and no extra dish."""
        return (
            not self.needs_staff
            and self.bill_matches_truth
            and self.missed == 0
            and self.extra == 0
        )

    @property
    def wrongly_billed(self) -> bool:
        """Billed without staff although the bill differs from the truth."""
        return not self.needs_staff and not self.bill_matches_truth

    @property
    def handled_correctly(self) -> bool:
        """Billable trays billed exactly; trays with an unknown dish sent to staff."""
        return self.billed_exactly if self.label.billable else self.needs_staff


def _share(flags: Sequence[bool]) -> float:
    return float(np.mean(flags)) if flags else float("nan")


@dataclass(frozen=True)
class Summary:
    """Headline figures of a set of trays."""

    trays: int
    billable_trays: int
    items: int
    matched_items: int
    item_accuracy: float  # matched dishes whose colour (incl. unknown) is right
    top_item_accuracy: float  # the same for the network's top label before any threshold
    billable_item_accuracy: float  # the same over dishes of the eight colours
    unknown_item_recall: float  # dishes of unknown colour answered "unknown"
    detection_recall: float
    detection_precision: float
    billed_exactly: float  # over billable trays
    wrongly_billed: float  # over all trays
    sent_to_staff: float  # over all trays
    staff_billable: float  # billable trays sent to staff (false alarms)
    staff_unknown: float  # trays with an unknown dish sent to staff
    handled_correctly: float  # over all trays


def summarise(outcomes: Sequence[TrayOutcome]) -> Summary:
    """Headline figures of ``outcomes``."""
    item_ok: list[bool] = []
    top_ok: list[bool] = []
    billable_ok: list[bool] = []
    unknown_ok: list[bool] = []
    n_pred = 0
    for o in outcomes:
        n_pred += len(o.colours)
        for i, j in o.matches:
            truth = o.label.items[i].colour
            ok = o.colours[j] == truth
            item_ok.append(ok)
            (unknown_ok if truth == UNKNOWN else billable_ok).append(ok)
            if o.top_colours:
                top_ok.append(o.top_colours[j] == truth)
    n_items = sum(len(o.label.items) for o in outcomes)
    matched = sum(len(o.matches) for o in outcomes)
    billable = [o for o in outcomes if o.label.billable]
    with_unknown = [o for o in outcomes if not o.label.billable]
    return Summary(
        trays=len(outcomes),
        billable_trays=len(billable),
        items=n_items,
        matched_items=matched,
        item_accuracy=_share(item_ok),
        top_item_accuracy=_share(top_ok),
        billable_item_accuracy=_share(billable_ok),
        unknown_item_recall=_share(unknown_ok),
        detection_recall=matched / n_items if n_items else float("nan"),
        detection_precision=matched / n_pred if n_pred else float("nan"),
        billed_exactly=_share([o.billed_exactly for o in billable]),
        wrongly_billed=_share([o.wrongly_billed for o in outcomes]),
        sent_to_staff=_share([o.needs_staff for o in outcomes]),
        staff_billable=_share([o.needs_staff for o in billable]),
        staff_unknown=_share([o.needs_staff for o in with_unknown]),
        handled_correctly=_share([o.handled_correctly for o in outcomes]),
    )


@dataclass(frozen=True)
class Confusion:
    """Confusion matrix of matched dishes; rows truth, columns answer, plus missed dishes."""

    labels: tuple[str, ...] = LABELS
    counts: np.ndarray = field(
        default_factory=lambda: np.zeros((len(LABELS), len(LABELS) + 1), int)
    )


def confusion(outcomes: Sequence[TrayOutcome]) -> Confusion:
    """Rows: true label; columns: answered label, last column "missed" (no matching dish)."""
    result = Confusion()
    index = {name: k for k, name in enumerate(LABELS)}
    for o in outcomes:
        matched_truth = set()
        for i, j in o.matches:
            result.counts[index[o.label.items[i].colour], index[o.colours[j]]] += 1
            matched_truth.add(i)
        for i, item in enumerate(o.label.items):
            if i not in matched_truth:
                result.counts[index[item.colour], len(LABELS)] += 1
    return result


def group_by(
    outcomes: Sequence[TrayOutcome], key: Callable[[TrayOutcome], str]
) -> dict[str, list[TrayOutcome]]:
    """Outcomes grouped by ``key``, groups in sorted order."""
    groups: dict[str, list[TrayOutcome]] = {}
    for o in outcomes:
        groups.setdefault(key(o), []).append(o)
    return dict(sorted(groups.items()))


def item_accuracy_by(
    outcomes: Sequence[TrayOutcome], key: Callable[[ItemLabel], str]
) -> dict[str, tuple[int, float]]:
    """Matched-dish colour accuracy per group of true dishes: group -> (dishes, accuracy)."""
    hits: dict[str, list[bool]] = {}
    for o in outcomes:
        for i, j in o.matches:
            item = o.label.items[i]
            hits.setdefault(key(item), []).append(o.colours[j] == item.colour)
    return {k: (len(v), float(np.mean(v))) for k, v in sorted(hits.items())}
