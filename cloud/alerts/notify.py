"""Notifications: webhook channels, in two formats — generic JSON, and the WeChat Work
(企业微信) group-robot message — retried with backoff, every attempt logged.

The queue is the ``notifications`` table. A sender leases a due row with a
conditional update (so several API replicas never send one twice at once), posts
it, and records the attempt; a failure is retried after 2, 4, 8 … seconds (at most
five minutes apart) until ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.alerts.site_map import Channel, SiteMap
from cloud.storage.tables import Notification, NotificationAttempt

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 300.0

_KIND_TITLE = {
    "opened": "新告警 New alert",
    "escalated": "告警升级 Escalated: not acknowledged",
    "confirmed": "火情确认 Fire confirmed",
    "dispatch": "出动指令 Dispatch order",
    "work_order": "维修工单 Work order",
}


def wechat_work_body(body: dict[str, Any]) -> dict[str, Any]:
    """The WeChat Work group robot's markdown message."""
    alert = body.get("alert", {})
    detail = body.get("detail", {})
    title = _KIND_TITLE.get(body.get("kind", ""), body.get("kind", "Notification"))
    colour = {"critical": "warning", "warning": "comment"}.get(alert.get("severity"), "info")
    lines = [
        f"**{title}**",
        f'> <font color="{colour}">{alert.get("title", "")}</font>',
        f"> 级别 severity: {alert.get('severity', '')} · 状态 state: {alert.get('state', '')}",
        f"> 首次 first seen: {alert.get('first_seen', '')}",
    ]
    if detail.get("station_name"):
        lines.append(f"> 出动站点 station: {detail['station_name']}")
    if detail.get("building"):
        lines.append(f"> 楼栋 building: {detail['building']}")
    if detail.get("note"):
        lines.append(f"> 备注 note: {detail['note']}")
    return {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}


def render(channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
    if channel.kind == "wechat_work":
        return wechat_work_body(body)
    return {"tianshan": 1, **body}


def delivered(channel: Channel, response: httpx.Response) -> str | None:
    """None when delivered, else why not. The WeChat robot answers 200 with an errcode."""
    if not response.is_success:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if channel.kind == "wechat_work":
        try:
            code = response.json().get("errcode", 0)
        except ValueError:
            return "the robot's answer is not JSON"
        if code != 0:
            return f"WeChat Work errcode {code}: {response.text[:200]}"
    return None


@dataclass
class Notifier:
    sessions: sessionmaker[Session]
    site_map: SiteMap
    max_attempts: int = 8
    timeout_s: float = 5.0

    def lease_due(self, limit: int = 20) -> list[int]:
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            due = session.scalars(
                select(Notification.id)
                .where(Notification.state == "pending", Notification.next_attempt_at <= now)
                .order_by(Notification.id)
                .limit(limit)
            ).all()
            mine = []
            for nid in due:
                won = session.execute(
                    update(Notification)
                    .where(
                        Notification.id == nid,
                        Notification.state == "pending",
                        Notification.next_attempt_at <= now,
                    )
                    .values(next_attempt_at=now + LEASE)
                )
                if won.rowcount:  # type: ignore[attr-defined]
                    mine.append(nid)
            return mine

    async def send(self, client: httpx.AsyncClient, notification_id: int) -> bool:
        """Deliver one leased notification and log the attempt. The SQL work runs in a
        worker thread: logging the attempt waits for the write lock (on SQLite, behind the
        ingest's commits, up to the busy timeout), and the API's event loop must not."""
        loaded = await asyncio.to_thread(self._load, notification_id)
        if loaded is None:
            return False
        channel_id, body, attempts = loaded
        channel = self.site_map.channel(channel_id)
        started = time.perf_counter()
        status: int | None = None
        if channel is None:
            error: str | None = f"no channel {channel_id!r} on the site map"
        else:
            try:
                response = await client.post(
                    channel.url, json=render(channel, body), timeout=self.timeout_s
                )
                status = response.status_code
                error = delivered(channel, response)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        await asyncio.to_thread(
            self._record,
            notification_id,
            attempts + 1,
            status,
            error,
            (time.perf_counter() - started) * 1000,
        )
        return error is None

    def _load(self, nid: int) -> tuple[str, dict[str, Any], int] | None:
        with self.sessions() as session:
            row = session.get(Notification, nid)
            return None if row is None else (row.channel, row.body, row.attempts)

    def _record(
        self, nid: int, attempts: int, status: int | None, error: str | None, duration_ms: float
    ) -> None:
        now = datetime.now(UTC)
        with self.sessions.begin() as session:
            session.add(
                NotificationAttempt(
                    notification_id=nid,
                    at=now,
                    status_code=status,
                    error=error,
                    duration_ms=round(duration_ms, 2),
                )
            )
            values: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if error is None:
                values |= {"state": "sent", "sent_at": now}
            elif attempts >= self.max_attempts:
                values |= {"state": "failed"}
                log.error(
                    "notification %d failed for good after %d attempts: %s", nid, attempts, error
                )
            else:
                delay = min(MAX_BACKOFF_S, 2.0**attempts)
                values |= {"next_attempt_at": now + timedelta(seconds=delay)}
                log.warning(
                    "notification %d not delivered (%s); retry in %.0f s", nid, error, delay
                )
            session.execute(update(Notification).where(Notification.id == nid).values(**values))
