"""A model pair measured on the box's own labelled frames, before it replaces the one in use.

When staff correct a bill at the kiosk, the pipeline keeps the frame and what staff said
(``labelled/<transaction id>.jpg`` and ``.json``, see ``CheckoutPipeline._keep_labelled``).
These are the trays the model in use got wrong or was unsure of: the hard cases of this
canteen's plates, light and camera. ``check_folder`` runs a pair on every one of them and
says, tray by tray, whether it would bill the tray as staff did, bill it wrongly, or send it
to staff, and whether its guesses (``Item.guess``) are staff's bill.

Not a measure of the model's accuracy on all trays: trays billed right without staff are
never labelled, so the share billed wrongly here is not the share billed wrongly at the
checkout. What it does tell is how a new pair does where the old one failed.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from models.traycolour.runtime import InvalidImageError, TrayRecognizer, load_image
from wire.checkout import PRICED_COLOURS

if TYPE_CHECKING:
    from collections.abc import Callable

_PLATE_COLOURS: Final = tuple(c.value for c in PRICED_COLOURS)

#: What a tray comes to under the pair checked.
BILLED_RIGHT: Final = "billed as staff did"
BILLED_WRONGLY: Final = "billed wrongly"
TO_STAFF: Final = "sent to staff"


class LabelError(ValueError):
    """A labelled frame that cannot be read: named, skipped, counted."""


@dataclass(frozen=True)
class Labelled:
    """One frame staff labelled: the colours of its dishes, and what the model in use said."""

    image: Path
    staff_said: tuple[str, ...]
    model_version: str | None
    #: What the model in use made of the tray (None: the label does not say, as in frames
    #: kept before the box recorded it).
    then: str | None


@dataclass(frozen=True)
class Checked:
    """One labelled frame under the pair checked."""

    image: Path
    outcome: str  # BILLED_RIGHT, BILLED_WRONGLY or TO_STAFF
    then: str | None  # the same for the model in use when staff labelled it (None: unknown)
    then_version: str | None
    colours: tuple[str, ...]
    guesses: tuple[str, ...]
    staff_said: tuple[str, ...]

    @property
    def guesses_right(self) -> bool:
        """The pair's guesses, dish by dish, make staff's bill."""
        return Counter(self.guesses) == Counter(self.staff_said)


@dataclass
class FieldCheck:
    """The pair's outcomes on a folder of labelled frames, and the frames it could not read."""

    model_version: str
    checked: list[Checked] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # file name -> why

    def count(self, outcome: str) -> int:
        return sum(1 for c in self.checked if c.outcome == outcome)

    def as_json(self) -> dict[str, object]:
        staff = [c for c in self.checked if c.outcome == TO_STAFF]
        return {
            "model_version": self.model_version,
            "frames": len(self.checked),
            BILLED_RIGHT: self.count(BILLED_RIGHT),
            BILLED_WRONGLY: self.count(BILLED_WRONGLY),
            TO_STAFF: len(staff),
            "sent to staff, guesses right": sum(c.guesses_right for c in staff),
            "then": dict(Counter(c.then for c in self.checked if c.then is not None)),
            "unreadable": dict(self.unreadable),
            "trays": [
                {
                    "image": str(c.image),
                    "outcome": c.outcome,
                    "then": c.then,
                    "then_model_version": c.then_version,
                    "colours": list(c.colours),
                    "guesses": list(c.guesses),
                    "staff_said": list(c.staff_said),
                }
                for c in self.checked
            ],
        }


def read_label(path: Path) -> Labelled:
    """One ``<id>.json`` and its frame; :class:`LabelError` when either is unusable."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelError(f"not a readable JSON label: {exc}") from exc
    if not isinstance(raw, dict):
        raise LabelError("the label is not a JSON object")
    said = raw.get("staff_said")
    if not isinstance(said, list) or not said or not all(c in _PLATE_COLOURS for c in said):
        raise LabelError(
            "'staff_said' must be a non-empty list of plate colours "
            f"({', '.join(_PLATE_COLOURS)}), got {said!r}"
        )
    image = path.with_suffix(".jpg")
    if not image.is_file():
        raise LabelError(f"its frame {image.name} is missing")
    model_said, needs_staff = raw.get("model_said"), raw.get("model_needs_staff")
    then = None
    if isinstance(model_said, list) and isinstance(needs_staff, bool):
        then = outcome(needs_staff, tuple(str(c) for c in model_said), tuple(said))
    return Labelled(
        image=image,
        staff_said=tuple(said),
        model_version=str(raw["model_version"]) if raw.get("model_version") else None,
        then=then,
    )


def outcome(needs_staff: bool, colours: tuple[str, ...], staff_said: tuple[str, ...]) -> str:
    """What a tray came to: sent to staff, or billed as staff said it should be, or not."""
    if needs_staff:
        return TO_STAFF
    return BILLED_RIGHT if Counter(colours) == Counter(staff_said) else BILLED_WRONGLY


def check_folder(
    folder: Path,
    recognizer: TrayRecognizer,
    progress: Callable[[int, int], None] | None = None,
) -> FieldCheck:
    """Run ``recognizer`` on every labelled frame in ``folder`` (sorted by name)."""
    labels = sorted(folder.glob("*.json"))
    result = FieldCheck(recognizer.model_version)
    for done, path in enumerate(labels, 1):
        try:
            label = read_label(path)
            recognition = recognizer.recognize(load_image(label.image))
        except (LabelError, InvalidImageError, OSError) as exc:
            result.unreadable[path.name] = str(exc)
        else:
            colours = tuple(i.colour for i in recognition.items)
            result.checked.append(
                Checked(
                    image=label.image,
                    outcome=outcome(recognition.needs_staff, colours, label.staff_said),
                    then=label.then,
                    then_version=label.model_version,
                    colours=colours,
                    guesses=tuple(i.guess for i in recognition.items),
                    staff_said=label.staff_said,
                )
            )
        if progress is not None:
            progress(done, len(labels))
    return result


def format_check(check: FieldCheck) -> str:
    """The summary as text: this pair beside the model in use when staff labelled the
    frames (where the labels say what that one did)."""
    n = len(check.checked)
    known = [c for c in check.checked if c.then is not None]
    versions = sorted({c.then_version for c in known if c.then_version})
    lines = [
        f"{n} labelled frames; this pair: {check.model_version}; "
        f"the model in use then: {', '.join(versions) or 'not recorded'} "
        f"({len(known)} {'frame says' if len(known) == 1 else 'frames say'} what it did)",
        f"  {'':32s} {'this pair':>16s} {'then':>16s}",
    ]
    for what in (BILLED_RIGHT, BILLED_WRONGLY, TO_STAFF):
        now = check.count(what)
        then = sum(1 for c in known if c.then == what)
        lines.append(
            f"  {what:32s} {now:7d} {_share(now, n):>8s} {then:7d} {_share(then, len(known)):>8s}"
        )
    staff = [c for c in check.checked if c.outcome == TO_STAFF]
    lines.append(
        f"  sent to staff with guesses that are staff's bill: {sum(c.guesses_right for c in staff)}"
        f" of {len(staff)}"
    )
    for c in check.checked:
        if c.outcome == BILLED_WRONGLY:
            lines.append(
                f"  billed wrongly: {c.image.name}: {' '.join(c.colours)} "
                f"(staff: {' '.join(c.staff_said)})"
            )
    for name, why in sorted(check.unreadable.items()):
        lines.append(f"  unreadable: {name}: {why}")
    return "\n".join(lines) + "\n"


def _share(k: int, n: int) -> str:
    return f"{100 * k / n:.1f} %" if n else "-"
