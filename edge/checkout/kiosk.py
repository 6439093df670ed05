"""The kiosk page on the box: the annotated frame, the items, the bill, and a staff
form to correct a dish's colour or settle a menu order by order number.

Served by the agent itself (standard-library HTTP server, one thread per request);
bound to localhost by default, where the kiosk's browser runs.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.checkout.pipeline import CheckoutPipeline
from edge.checkout.prices import PriceError

log = logging.getLogger(__name__)

PAGE = Path(__file__).with_name("kiosk.html")
MAX_BODY = 16 * 1024


class KioskServer:
    def __init__(self, pipeline: CheckoutPipeline, *, host: str, port: int) -> None:
        self.pipeline = pipeline
        handler = type("KioskHandler", (_Handler,), {"pipeline": pipeline})
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
            self._json(HTTPStatus.OK, self.pipeline.view.as_json())
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
