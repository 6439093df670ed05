"""The kiosk page on the box: the annotated frame, the items, the bill, and a staff
form to correct a dish's colour or settle a menu order by order number.

Served by the agent itself (standard-library HTTP server, one thread per request);
bound to localhost by default, where the kiosk's browser runs. The screen faces the
customers, so the staff actions ask for the staff PIN when one is configured
(``checkout.staff_pin``); after ``MAX_WRONG_PINS`` wrong PINs in a row they are refused
for ``LOCKOUT_S`` seconds.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from edge.checkout.pipeline import CheckoutPipeline, RecordError
from edge.checkout.prices import PriceError

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("kiosk.html")
MAX_BODY = 16 * 1024
MAX_WRONG_PINS = 5
LOCKOUT_S = 60.0


class PinGuard:
    """Checks the staff PIN of a kiosk action; ``None`` as the PIN lets every action through."""

    def __init__(self, pin: str | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._pin = pin
        self._clock = clock
        self._lock = threading.Lock()
        self._wrong = 0
        self._locked_until = 0.0

    @property
    def required(self) -> bool:
        return self._pin is not None

    def check(self, given: object) -> tuple[int, str] | None:
        """None when the action may go on; else the HTTP status and the reason."""
        if self._pin is None:
            return None
        with self._lock:
            wait = self._locked_until - self._clock()
            if wait > 0:
                return HTTPStatus.TOO_MANY_REQUESTS, (
                    f"too many wrong PINs: try again in {math.ceil(wait)} s"
                )
            if isinstance(given, str) and hmac.compare_digest(given.encode(), self._pin.encode()):
                self._wrong = 0
                return None
            if given in (None, ""):
                return HTTPStatus.FORBIDDEN, "type the staff PIN first"
            self._wrong += 1
            if self._wrong >= MAX_WRONG_PINS:
                self._wrong = 0
                self._locked_until = self._clock() + LOCKOUT_S
                log.warning(
                    "kiosk: %d wrong staff PINs in a row; staff actions locked for %.0f s",
                    MAX_WRONG_PINS,
                    LOCKOUT_S,
                )
            return HTTPStatus.FORBIDDEN, "wrong staff PIN"


class KioskServer:
    def __init__(
        self, pipeline: CheckoutPipeline, *, host: str, port: int, staff_pin: str | None = None
    ) -> None:
        self.pipeline = pipeline
        guard = PinGuard(staff_pin)
        handler = type("KioskHandler", (_Handler,), {"pipeline": pipeline, "guard": guard})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kiosk", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def start(self) -> None:
        self._thread.start()
        log.info("kiosk page on %s", self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    pipeline: CheckoutPipeline
    guard: PinGuard
    server_version = "tianshan-kiosk"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kiosk %s", format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(HTTPStatus.OK, PAGE.read_bytes(), "text/html; charset=utf-8")
        elif path == "/api/state":
            self._json(
                HTTPStatus.OK, {**self.pipeline.view.as_json(), "pin_required": self.guard.required}
            )
        elif path == "/api/prices":
            prices = self.pipeline.prices
            self._json(HTTPStatus.OK, prices.as_yuan() if prices else None)
        elif path == "/frame.jpg":
            frame = self.pipeline.view.frame_jpeg
            if frame is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no tray frame to show"})
            else:
                self._send(HTTPStatus.OK, frame, "image/jpeg")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path}"})

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON body under 16 KiB"})
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the body is not JSON"})
            return None
        if not isinstance(body, dict):
            self._json(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON object"})
            return None
        return body

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        refused = self.guard.check(body.get("pin"))
        if refused is not None:
            status, reason = refused
            self._json(status, {"error": reason})
            return
        try:
            if self.path == "/api/correct":
                fix = self.pipeline.correct(
                    str(body["transaction_id"]),
                    [None if c is None else str(c) for c in body["colours"]],
                    staff=str(body["staff"]) if body.get("staff") else None,
                )
                self._json(HTTPStatus.OK, fix.model_dump(mode="json"))
            elif self.path == "/api/menu":
                tx = self.pipeline.menu_order(
                    str(body["order_number"]), [str(d) for d in body["dishes"]]
                )
                self._json(HTTPStatus.OK, tx.model_dump(mode="json"))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such action {self.path}"})
        except KeyError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"missing field {exc.args[0]!r}"})
        except (PriceError, ValidationError, ValueError, TypeError) as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc).splitlines()[0]})
        except RecordError as exc:  # nothing was recorded: staff may try again
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"not saved: {exc}"})
