"""The checkout pipeline: frames → tray at rest → recognise once → bill → record.

A transaction is in the outbox (transaction lane, durable) before the kiosk shows
it; the bill stays up until the tray leaves, so one tray is billed once. After a
crash with a tray still in the slot, the tray is recognised again but not billed
again: a fingerprint of the billed tray is stored with its transaction, in the same
outbox transaction, and the empty-slot background is kept on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from pydantic import ValidationError

from edge.agent import EdgeAgent
from edge.checkout.bill import bill_menu, bill_tray, correct, dish_name
from edge.checkout.frame_store import FrameStore
from edge.checkout.frames import Frame, FrameSource
from edge.checkout.prices import PriceError, PriceTable
from edge.checkout.watcher import SlotState, TrayWatcher
from edge.config import CheckoutConfig
from edge.outbox import Lane
from edge.remote_config import RemoteSettings
from models.traycolour.runtime import InvalidImageError, Recognition, TrayRecognizer
from wire import Severity
from wire.checkout import (
    CORRECTION,
    TRANSACTION,
    CheckoutCorrection,
    CheckoutTransaction,
    Colour,
    LineItem,
    fen_to_yuan,
)

log = logging.getLogger(__name__)

# Fingerprints: a small grey copy; two looks at one tray differ by sensor noise only.
_PRINT_SIZE = (48, 36)
_SAME_TRAY_BELOW = 6.0  # mean absolute difference, grey levels
_RECENT = 50  # transactions the kiosk can still correct
LAST_TRAY_KEY = "checkout.last_tray"  # outbox meta: the billed tray still in the slot
#: A camera without a frame this long is shown on the kiosk (a second is ten frames missed).
NO_PICTURE_AFTER_S = 1.0
NO_PICTURE = "The camera gives no picture: please call staff"


class RecordError(RuntimeError):
    """The box could not store a transaction or correction (its outbox's disk is full or
    failing): nothing of it was recorded."""


@dataclass(frozen=True)
class KioskView:
    """What the kiosk shows; replaced as a whole, so readers see a consistent view."""

    status: str = "empty"  # empty | arriving | billed | staff | error
    message: str = "Place your tray in the slot"
    transaction: CheckoutTransaction | None = None
    correction: CheckoutCorrection | None = None
    reasons: tuple[str, ...] = ()
    #: Per item of ``transaction``: the model's most likely colour before its thresholds,
    #: offered to staff for a dish it was not sure of (empty when not known, e.g. after a
    #: restart). Never billed.
    guesses: tuple[str, ...] = ()
    frame_jpeg: bytes | None = field(default=None, repr=False)
    updated: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, object]:
        tx = self.transaction
        bill = self.correction or tx
        guesses = self.guesses if self.correction is None else ()
        return {
            "status": self.status,
            "message": self.message,
            "reasons": list(self.reasons),
            "transaction_id": tx.transaction_id if tx else None,
            "mode": tx.mode if tx else None,
            "needs_staff": tx.needs_staff if tx else None,
            "corrected": self.correction is not None,
            "items": [
                {
                    "colour": i.colour.value,
                    "dish": i.dish,
                    "price": fen_to_yuan(i.price_fen) if i.price_fen is not None else None,
                    "confidence": i.confidence,
                    "centre": i.centre,
                    "radius": i.radius,
                    "guess": guesses[n] if n < len(guesses) else None,
                }
                for n, i in enumerate(bill.items if bill else [])
            ],
            "total": fen_to_yuan(bill.total_fen) if bill else None,
            "has_frame": self.frame_jpeg is not None,
            "updated": self.updated,
        }


@dataclass
class _Recent:
    """A recent transaction staff may still correct: the model's guesses per item, and the
    items of the bill on screen (the transaction's, or its latest correction's)."""

    tx: CheckoutTransaction
    guesses: tuple[str, ...]
    items: list[LineItem]


class CheckoutPipeline:
    def __init__(
        self,
        agent: EdgeAgent,
        config: CheckoutConfig,
        *,
        source: FrameSource,
        recognizer: TrayRecognizer,
        prices: PriceTable | None,
        state_dir: Path,
    ) -> None:
        self.agent = agent
        self.config = config
        self.site = agent.config.device.site
        self._source = source
        self._recognizer = recognizer
        self._prices = prices
        self._watcher = TrayWatcher(config.watcher)
        self._dir = state_dir / "checkout"
        self._frames = FrameStore(self._dir / "frames", keep_days=config.keep_frames_days)
        (self._dir / "labelled").mkdir(parents=True, exist_ok=True)
        self._slot_file = self._dir / "slot.npz"
        self._last_print: np.ndarray | None = None
        self._last_tx: CheckoutTransaction | None = None
        self._restore_last_tray()
        self._background = self._restore_slot()
        if self._background is not None:
            self._watcher.restore_background(self._background)
        self._lock = threading.Lock()
        self._recent: dict[str, _Recent] = {}
        self._view = KioskView()
        self._thread = threading.Thread(target=self._run, name="checkout", daemon=True)
        self.frames_seen = 0
        self.finished = threading.Event()
        agent.on_config(self._on_config)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._source.close()
        self._thread.join(5)

    @property
    def prices(self) -> PriceTable | None:
        return self._prices

    @property
    def view(self) -> KioskView:
        """What the kiosk shows; an error over it while the camera gives no frames."""
        since = self._source.no_frames_since()
        if since is not None and time.time() - since >= NO_PICTURE_AFTER_S:
            return replace(self._view, status="error", message=NO_PICTURE)
        return self._view

    def _on_config(self, settings: RemoteSettings) -> None:
        if settings.checkout is not None:
            self._prices = settings.checkout.price_table()
            log.info("price table %s in force", self._prices.version)

    # -- frames ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            for frame in self._source.frames():
                self.frames_seen += 1
                try:
                    self.process(frame)
                except Exception:  # one bad frame must not stop the checkout
                    log.exception("checkout: frame %d failed", frame.index)
            log.info(
                "checkout: frames ended after %d (replay ended, or the source was closed)",
                self.frames_seen,
            )
        finally:
            self.finished.set()

    def process(self, frame: Frame) -> None:
        image = frame.image
        if not isinstance(image, np.ndarray) or image.size == 0 or image.ndim != 3:
            self._show(status="error", message="The camera sent an empty frame")
            log.error("checkout: frame %d is empty or not a colour image", frame.index)
            return
        before = self._watcher.state
        seen = self._watcher.observe(image)
        if seen.state is SlotState.EMPTY and before is not SlotState.EMPTY:
            self._tray_left()
        elif seen.state is SlotState.ARRIVING and before is SlotState.EMPTY:
            # The slot as it was just before this tray: kept, so that a box restarted
            # with the tray in the slot still knows what empty looks like.
            self._background = self._watcher.background
            self._save_slot()
            self._show(status="arriving", message="Hold still…", frame_jpeg=None)
        if seen.ready:
            self._settle(image)

    def _tray_left(self) -> None:
        if self._last_print is not None:
            self.agent.outbox.set_meta(LAST_TRAY_KEY, "")
        self._last_print = None
        self._background = self._watcher.background
        self._save_slot()
        self._frames.prune_if_due()  # nobody waits for a bill now
        self._show(
            status="empty",
            message="Place your tray in the slot",
            transaction=None,
            correction=None,
            reasons=(),
            guesses=(),
            frame_jpeg=None,
        )

    def _settle(self, image: np.ndarray) -> None:
        """The tray is at rest: recognise it, bill it once, record it, show it."""
        fingerprint = _fingerprint(image)
        if (
            self._last_print is not None
            and self._last_tx is not None
            and _same_tray(fingerprint, self._last_print)
        ):
            log.info(
                "checkout: tray already billed as %s before a restart; not billing again",
                self._last_tx.transaction_id,
            )
            self._show_transaction(self._last_tx, image, None)
            return
        if self._prices is None:
            self._show(status="error", message="No price table yet: please call staff")
            log.error("checkout: no price table (set checkout.prices_file or push one)")
            return
        try:
            recognition = self._recognizer.recognize(image)
            jpeg = _jpeg(image)
            tx = bill_tray(
                recognition,
                self._prices,
                site=self.site,
                image_sha256=hashlib.sha256(jpeg).hexdigest(),
            )
        except (InvalidImageError, PriceError) as exc:
            self._show(status="error", message=f"Cannot bill this tray: {exc}. Please call staff")
            log.error("checkout: no transaction: %s", exc)
            return
        # The transaction and the mark "this tray is billed" are stored in one outbox
        # transaction: after a crash either both are there (the tray still in the slot
        # is not billed again, the transaction is replayed) or neither (it is billed).
        try:
            self._record(
                TRANSACTION,
                tx.model_dump(mode="json"),
                severity=Severity.WARNING if tx.needs_staff else Severity.INFO,
                meta={LAST_TRAY_KEY: _last_tray_mark(fingerprint, tx)},
            )
        except RecordError as exc:
            self._show(status="error", message="This bill could not be saved: please call staff")
            log.error("checkout: tray %s not billed: %s", tx.transaction_id, exc)
            return
        self._frames.save(tx.transaction_id, jpeg)
        self._last_print, self._last_tx = fingerprint, tx
        log.info(
            "checkout: tray %s: %s, %s yuan%s",
            tx.transaction_id,
            " ".join(dish_name(i.colour, i.guess) for i in recognition.items),
            fen_to_yuan(tx.total_fen),
            f" (staff: {'; '.join(recognition.reasons) or 'unpriced dish'})"
            if tx.needs_staff
            else "",
        )
        self._show_transaction(tx, image, recognition)

    # -- kiosk actions --------------------------------------------------------------------

    def correct(
        self, transaction_id: str, colours: list[str | None], *, staff: str | None = None
    ) -> CheckoutCorrection:
        """Staff name each dish's colour (``bill.correct``: None drops a detection that
        was no dish, entries past the transaction's dishes add missed ones); the correction
        is recorded and the frame with the corrected labels is kept for retraining.
        :class:`PriceError` or ValueError when the correction cannot be priced."""
        with self._lock:
            recent = self._recent.get(transaction_id)
        if recent is None:
            raise PriceError(f"transaction {transaction_id} is not one of the recent trays")
        if self._prices is None:
            raise PriceError("no price table")
        # Staff's entries follow the bill on screen: after a first correction, that one's.
        shown = recent.tx.model_copy(update={"items": recent.items})
        fix = correct(
            shown, [None if c is None else Colour(c) for c in colours], self._prices, staff=staff
        )
        self._record(CORRECTION, fix.model_dump(mode="json"))
        with self._lock:
            recent.items = list(fix.items)
        self._keep_labelled(recent.tx, fix, recent.guesses)
        if self._view.transaction and self._view.transaction.transaction_id == transaction_id:
            self._show(status="billed", message="Corrected by staff", correction=fix)
        return fix

    def menu_order(self, order_number: str, dishes: list[str]) -> CheckoutTransaction:
        if self._prices is None:
            raise PriceError("no price table")
        tx = bill_menu(order_number, dishes, self._prices, site=self.site)
        self._record(TRANSACTION, tx.model_dump(mode="json"))
        with self._lock:
            self._remember(tx)
        self._show(
            status="billed",
            message=f"Order {order_number}",
            transaction=tx,
            correction=None,
            reasons=(),
            guesses=(),
            frame_jpeg=None,
        )
        return tx

    # -- helpers -------------------------------------------------------------------------

    def _record(
        self,
        type_: str,
        data: dict[str, object],
        *,
        severity: Severity = Severity.INFO,
        meta: dict[str, str] | None = None,
    ) -> None:
        """Store a transaction or correction in the outbox's transaction lane, or raise
        :class:`RecordError` (nothing stored) when the outbox's database fails."""
        try:
            self.agent.send_event(
                type_, severity=severity, data=data, lane=Lane.TRANSACTION, meta=meta
            )
        except sqlite3.Error as exc:
            msg = f"the box could not store it ({exc})"
            raise RecordError(msg) from exc

    def _show_transaction(
        self, tx: CheckoutTransaction, image: np.ndarray, recognition: Recognition | None
    ) -> None:
        # bill_tray keeps the recognition's order of items.
        guesses = tuple(i.guess for i in recognition.items) if recognition else ()
        with self._lock:
            self._remember(tx, guesses)
        reasons = recognition.reasons if recognition else ()
        self._show(
            status="staff" if tx.needs_staff else "billed",
            message="A member of staff will help you" if tx.needs_staff else "Thank you!",
            transaction=tx,
            correction=None,
            reasons=tuple(reasons),
            guesses=guesses,
            frame_jpeg=_jpeg(annotate(image, tx)),
        )

    def _remember(self, tx: CheckoutTransaction, guesses: tuple[str, ...] = ()) -> None:
        self._recent[tx.transaction_id] = _Recent(tx, guesses, list(tx.items))
        while len(self._recent) > _RECENT:
            self._recent.pop(next(iter(self._recent)))

    def _show(self, **changes: object) -> None:
        self._view = replace(self._view, updated=time.time(), **changes)  # type: ignore[arg-type]

    def _keep_labelled(
        self, tx: CheckoutTransaction, fix: CheckoutCorrection, guesses: tuple[str, ...]
    ) -> None:
        frame = self._frames.path(tx.transaction_id)
        if not frame.exists():
            return
        label = {
            "transaction_id": tx.transaction_id,
            "model_version": tx.model_version,
            "model_said": [i.colour.value for i in tx.items],
            "model_needs_staff": tx.needs_staff,
            "model_guessed": list(guesses),
            "staff_said": [i.colour.value for i in fix.items],
            "items": [
                {"colour": i.colour.value, "centre": i.centre, "radius": i.radius}
                for i in fix.items
            ],
        }
        labelled = self._dir / "labelled"
        try:
            (labelled / frame.name).write_bytes(frame.read_bytes())
            (labelled / f"{tx.transaction_id}.json").write_text(json.dumps(label))
        except OSError as exc:  # the correction is recorded; only the training copy is lost
            log.error("checkout: labelled copy of %s not kept: %s", tx.transaction_id, exc)
            for part in (labelled / frame.name, labelled / f"{tx.transaction_id}.json"):
                part.unlink(missing_ok=True)

    def _restore_last_tray(self) -> None:
        mark = self.agent.outbox.meta(LAST_TRAY_KEY)
        if not mark:
            return
        try:
            saved = json.loads(mark)
            pixels = base64.b64decode(saved["print"])
            shape = (_PRINT_SIZE[1], _PRINT_SIZE[0])
            self._last_print = np.frombuffer(pixels, np.uint8).reshape(shape).astype(np.float32)
            self._last_tx = CheckoutTransaction.model_validate(saved["tx"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning("checkout: ignoring an unreadable last-tray mark: %s", exc)
            self._last_print = self._last_tx = None

    def _restore_slot(self) -> np.ndarray | None:
        """The empty slot as last seen, if known."""
        background = None
        try:
            with np.load(self._slot_file, allow_pickle=False) as saved:
                if "background" in saved:
                    background = saved["background"]
        except (OSError, ValueError, KeyError) as exc:
            if self._slot_file.exists():
                log.warning("checkout: ignoring unreadable %s: %s", self._slot_file, exc)
        return background

    def _save_slot(self) -> None:
        tmp = self._slot_file.with_suffix(".tmp.npz")
        arrays: dict[str, np.ndarray] = {}
        if self._background is not None:
            arrays["background"] = self._background
        with tmp.open("wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self._slot_file)


def _last_tray_mark(fingerprint: np.ndarray, tx: CheckoutTransaction) -> str:
    pixels = np.clip(np.rint(fingerprint), 0, 255).astype(np.uint8).tobytes()
    return json.dumps(
        {"print": base64.b64encode(pixels).decode(), "tx": tx.model_dump(mode="json")}
    )


def _fingerprint(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return np.asarray(cv2.resize(grey, _PRINT_SIZE, interpolation=cv2.INTER_AREA), np.float32)


def _same_tray(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.mean(np.abs(a - b))) < _SAME_TRAY_BELOW


def _jpeg(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise InvalidImageError("cannot encode the frame as JPEG")
    return bytes(buffer.tobytes())


_DRAW = {
    "red": (40, 40, 220),
    "orange": (0, 140, 255),
    "yellow": (0, 220, 240),
    "green": (60, 180, 60),
    "blue": (220, 120, 30),
    "purple": (160, 50, 150),
    "white": (245, 245, 245),
    "black": (30, 30, 30),
    "unknown": (0, 0, 255),
}


def annotate(image: np.ndarray, tx: CheckoutTransaction) -> np.ndarray:
    """The frame with each dish circled in its colour and labelled with its number (the
    kiosk's "dish n" for staff) and price."""
    out = image.copy()
    scale = max(1.0, image.shape[1] / 640)
    for number, item in enumerate(tx.items, 1):
        if item.centre is None or item.radius is None:
            continue
        colour = _DRAW[item.colour.value]
        cv2.circle(out, item.centre, item.radius, (0, 0, 0), round(5 * scale))
        cv2.circle(out, item.centre, item.radius, colour, round(3 * scale))
        label = (
            f"{number} {item.colour.value} {fen_to_yuan(item.price_fen)}"
            if item.price_fen is not None
            else f"{number} ? staff"
        )
        (width, _), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, 2)
        origin = (item.centre[0] - width // 2, item.centre[1])
        cv2.putText(
            out,
            label,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 0),
            round(4 * scale),
            cv2.LINE_AA,
        )
        cv2.putText(
            out,
            label,
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (255, 255, 255),
            round(1.5 * scale),
            cv2.LINE_AA,
        )
    return out
