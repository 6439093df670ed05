"""What the API process does on its own, every second: escalate unacknowledged fire
alarms, supervise boxes' heartbeats, send due notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.notify import Notifier
from cloud.alerts.site_map import SiteMap
from cloud.config import AlertsConfig
from cloud.storage import alerts

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_S = 30.0


class AlertScheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        site_map: SiteMap,
        config: AlertsConfig,
        *,
        changed: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._site_map = site_map
        self._config = config
        self._changed = changed  # tell this replica's consoles and, via MQTT, the others
        self.notifier = Notifier(sessions, site_map, max_attempts=config.notify_max_attempts)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="alert-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def check_once(self) -> int:
        """Escalation and supervision; returns the changes made."""
        with self._sessions.begin() as session:
            changes = alerts.escalate_due(
                session,
                after=timedelta(seconds=self._config.escalate_after_s),
                site_map=self._site_map,
            )
            changes += alerts.supervise(
                session,
                missed=self._config.missed_heartbeats,
                default_interval_s=DEFAULT_HEARTBEAT_S,
                site_map=self._site_map,
            )
        return changes

    async def _run(self) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    if await asyncio.to_thread(self.check_once):
                        self._changed()
                    for nid in await asyncio.to_thread(self.notifier.lease_due):
                        await self.notifier.send(client, nid)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the scheduler must outlive a bad second (SQL down…)
                    log.exception("alert scheduler: this round failed; trying again")
                await asyncio.sleep(self._config.check_every_s)
