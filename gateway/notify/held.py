"""Events held for a digest, on disk until their digest is queued (issue #15).

A flood's events wait up to a minute for their digest (gateway.notify.digest). Kept only
in memory, a SIGKILL or a crash in that minute lost them from every channel; here they
are in `<data_dir>/notify/held.sqlite` before the alarm hub saves its states, as the
channels' messages are. The file is an outbox (gateway.store.outbox) that no sender
empties: topic = the audience's name, payload = the event's JSON, kind = alarm (never
expired), message id = "<kind>:<event id>/<audience>". The notifier deletes an audience's
rows once their digest is in the channel's outbox, and restores the rest at a start.

At least once: the digest is queued first, then its events deleted. A SIGKILL between
the two restores the same events in the same order, so the digest is rendered with the
same id and the channel's outbox refuses it as a duplicate while it still waits there;
only a digest already sent in those few milliseconds goes out twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.core.storage import StorageHealth
from gateway.notify.events import NotificationEvent
from gateway.store.outbox import Kind, Message, MessageRefused, Outbox

logger = logging.getLogger(__name__)

# As a channel's outbox: notifications are few, this bounds a flood that never ends.
MAX_HELD = 100_000


@dataclass(frozen=True, slots=True)
class HeldEvent:
    """One event waiting on disk for an audience's digest."""

    seq: int
    audience: str
    event: NotificationEvent
    held_s: float  # wall-clock epoch seconds: when it was held, for its digest's time


class HeldEvents:
    """The digests' events on disk; use `HeldEvents.open`."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, health: StorageHealth) -> AsyncIterator[HeldEvents]:
        """Open (creating if needed) the file at `path`; closed on exit."""
        async with Outbox.open(path, max_messages=MAX_HELD, max_age_s=86400.0,
                               health=health) as outbox:
            yield cls(outbox)

    async def hold(self, held: Sequence[tuple[str, NotificationEvent]],
                   held_s: float) -> list[int] | None:
        """Store (audience, event) pairs in one commit; their seqs, in order, or None when
        the disk refused them (they then wait in memory only)."""
        messages = [Message(topic=audience, payload=event.to_json(), qos=1, retain=False,
                            kind=Kind.ALARM,
                            message_id=f"{event.kind}:{event.event_id}/{audience}",
                            created_s=held_s)
                    for audience, event in held]
        try:
            return await self._outbox.put_many(messages)
        except MessageRefused as refused:  # counted by the outbox, reported to the health
            logger.warning("notifications: %d events for digests held in memory only: %s",
                           len(messages), refused)
            return None

    async def release(self, seqs: Iterable[int]) -> None:
        """Delete events whose digest is queued."""
        await self._outbox.ack_many(seqs)

    async def restore(self) -> list[HeldEvent]:
        """What waits on disk, oldest first; rows that are not events are deleted."""
        restored, unreadable = [], []
        for stored in await self._outbox.peek(MAX_HELD):
            message = stored.message
            try:
                event = NotificationEvent.from_json(message.payload)
            except ValueError as error:
                logger.error("notifications: dropped held event %s: %s",
                             message.message_id, error)
                unreadable.append(stored.seq)
                continue
            restored.append(HeldEvent(stored.seq, message.topic, event, message.created_s))
        if unreadable:
            await self.release(unreadable)
        return restored
