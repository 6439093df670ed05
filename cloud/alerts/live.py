"""Live alerts over WebSocket (``/ws/alerts``), resumable from the last change seen.

The change log in SQL (``alert_events``) is the stream; its id is the cursor. Each
connection runs its own loop: wait for a wake-up (or a second), read the changes
after its cursor, send them in order. A console that reconnects says where it was
and gets what it missed, so what it shows is never stale.

Wake-ups come from this replica's own actions and, through the broker, from the
ingest and other replicas (topic :data:`ALERTS_TOPIC`): live push fans out through
MQTT, with no extra bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from sqlalchemy.orm import Session, sessionmaker

from cloud.storage import alerts
from cloud.storage.tables import AlertEvent
from cloud.storage.tokens import authenticate

log = logging.getLogger(__name__)

# The cloud's own topic (not a device topic): "alert changes up to id N are in SQL".
ALERTS_TOPIC = "tianshan/v1/cloud/alerts"
PAGE = 500
HELLO_TIMEOUT_S = 10.0
PING_EVERY_S = 15.0


def event_message(event: AlertEvent) -> dict[str, Any]:
    return {
        "type": "alert_event",
        "id": event.id,
        "alert_id": event.alert_id,
        "kind": event.kind,
        "actor": event.actor,
        "at": alerts.iso(event.at),
        "detail": event.detail,
        "alert": event.snapshot,
    }


class AlertHub:
    """This replica's connections' shared wake-up."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._changed = asyncio.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connections = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def notify_threadsafe(self) -> None:
        """From any other thread: paho's (an MQTT wake-up) or a route's worker thread."""
        if self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.notify(), self._loop)

    async def _wait(self, seconds: float) -> None:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), seconds)

    def _read(self, after: int) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return [event_message(e) for e in alerts.events_after(session, after=after, limit=PAGE)]

    def _snapshot(self) -> dict[str, Any]:
        with self._sessions() as session:
            cursor = alerts.latest_event_id(session)
            open_now = [alerts.snapshot(a) for a in alerts.list_alerts(session, open_only=True)]
        return {"type": "snapshot", "id": cursor, "alerts": open_now}

    def _check_token(self, token: str) -> str | None:
        with self._sessions() as session:
            row = authenticate(session, token=token)
            return None if row is None else f"{row.role}:{row.name}"

    async def serve(self, ws: WebSocket) -> None:
        """One console: ``{"token": "...", "after": N}`` first (N: the last change it
        saw; no ``after``: a snapshot of the open alerts first), then the stream."""
        await ws.accept()
        try:
            hello = json.loads(await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT_S))
            token = str(hello.get("token", ""))
            after = None if hello.get("after") is None else int(hello["after"])
        except (TimeoutError, ValueError, TypeError, AttributeError):
            await ws.close(code=4400, reason='send {"token": …, "after": N} first')
            return
        who = await asyncio.to_thread(self._check_token, token)
        if who is None:
            await ws.close(code=4401, reason="unknown or revoked API token")
            return
        self.connections += 1
        try:
            if after is None:
                # A fresh console: the open alerts as they stand, then the stream from here.
                snapshot = await asyncio.to_thread(self._snapshot)
                await ws.send_text(json.dumps(snapshot))
                after = int(snapshot["id"])
            log.info("console %s connected, streaming after change %d", who, after)
            await self._stream(ws, after)
        except WebSocketDisconnect:
            pass
        finally:
            self.connections -= 1

    async def _stream(self, ws: WebSocket, cursor: int) -> None:
        # Two tasks: one sends the stream, one notices the client leaving.
        closed = asyncio.Event()

        async def listen() -> None:
            try:
                while True:
                    await ws.receive_text()  # clients may ping; anything else is ignored
            except WebSocketDisconnect:
                closed.set()

        listener = asyncio.create_task(listen())
        loop = asyncio.get_running_loop()
        caught_up = False
        last_sent = loop.time()
        try:
            while not closed.is_set():
                batch = await asyncio.to_thread(self._read, cursor)
                for message in batch:
                    await ws.send_text(json.dumps(message))
                    cursor = message["id"]
                if batch:
                    last_sent = loop.time()
                if len(batch) == PAGE:
                    continue  # catching up: no waiting between pages
                if not caught_up:
                    # The end of the backlog: what the console shows is now current.
                    await ws.send_text(json.dumps({"type": "caught_up", "id": cursor}))
                    caught_up = True
                if loop.time() - last_sent >= PING_EVERY_S:
                    await ws.send_text(json.dumps({"type": "ping", "id": cursor}))
                    last_sent = loop.time()
                await self._wait(1.0)  # a wake-up, or a second: an MQTT wake-up can be lost
        finally:
            listener.cancel()
