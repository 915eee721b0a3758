"""The page's notification bell (issue #15): every notification event, stored in the
notification list, counted unread per user, and pushed to the open pages.

The notifier calls `add` from its own flow and must not wait for a disk: events go
through a bounded queue to `run`, which stores each and wakes the pages' streams. What the
disk refuses (a full disk, issue #17) waits in memory, in order, and `retry` (the storage
retries call it every second) stores it once there is space again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.notify.events import NotificationEvent, NotificationKind
from gateway.notify.render import headline
from gateway.store.notification_feed import FeedItem, NotificationFeedStore

logger = logging.getLogger(__name__)

Json = dict[str, Any]
QUEUE_SIZE = 10_000


class Bell:
    """The notification list as the page sees it."""

    def __init__(self, store: NotificationFeedStore) -> None:
        self._store = store
        self._queue: asyncio.Queue[NotificationEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._changed = asyncio.Event()
        self._unsaved: deque[NotificationEvent] = deque()  # refused by the disk, in order
        self._storing = asyncio.Lock()  # `run` and the storage retries, one at a time
        self.dropped = 0

    def add(self, event: NotificationEvent) -> None:
        """One more notification (the notifier's feed); stored by `run`."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.debug("notification list: queue full, %s dropped", event.kind)

    async def run(self) -> None:
        """Store what `add` queued and wake the streams; until cancelled."""
        while True:
            event = await self._queue.get()
            if len(self._unsaved) >= QUEUE_SIZE:
                self._unsaved.popleft()
                self.dropped += 1
            self._unsaved.append(event)
            await self.retry()

    async def retry(self) -> None:
        """Store the notifications waiting in memory, oldest first, until the disk refuses
        one (the store reports it); wake the streams when one was stored."""
        stored = False
        async with self._storing:
            while self._unsaved:
                event = self._unsaved[0]
                if await self._store.add(event.time.timestamp(), _stored(event)) is None:
                    break
                self._unsaved.popleft()
                stored = True
        if stored:
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def items(self, user: str, language: str, after: int = 0, limit: int = 50) -> Json:
        """The newest notifications above `after` in `language`, and the unread count."""
        items = await self._store.recent(user, after, limit)
        return {"items": [_shown(item, language) for item in items],
                "unread": await self._store.unread(user), "latest": self._store.latest}

    async def mark_read(self, user: str, ids: Sequence[int] | None) -> Json:
        """Mark `ids` (None: all) read for `user`; the unread count after."""
        await self._store.mark_read(user, ids)
        return {"unread": await self._store.unread(user)}

    async def wait(self, after: int, timeout_s: float) -> int:
        """The newest id, once it is above `after` or `timeout_s` has passed."""
        if self._store.latest <= after:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._changed.wait()
        return self._store.latest


def _stored(event: NotificationEvent) -> Json:
    return {"kind": event.kind.value, "severity": event.severity,
            "time": event.time.isoformat(), "asset": event.asset, "alarm": event.alarm,
            "source": event.source, "detail": event.detail, "link": event.link}


def _shown(item: FeedItem, language: str) -> Json:
    stored = item.item
    event = NotificationEvent(
        kind=NotificationKind(stored["kind"]), severity=int(stored["severity"]), gateway="",
        time=datetime.fromisoformat(stored["time"]), asset=stored.get("asset"),
        alarm=stored.get("alarm"), source=stored.get("source"))
    return {"id": item.id, "time": stored["time"], "kind": stored["kind"],
            "severity": event.severity, "title": headline(event, language),
            "detail": stored.get("detail", ""), "link": stored.get("link", "/"),
            "read": item.read}
