"""One channel's durable queue and the loop that empties it, in order (issue #15).

The queue is the MQTT bridge's outbox (gateway.store.outbox), one file per channel under
`<data_dir>/notify/`: a message is on disk when `queue` returns, and it leaves the file
only once the channel said the peer took it. So an outage or a SIGKILL loses nothing,
and the oldest message goes first once the channel is back. A message the peer took just
before a SIGKILL, whose deletion was not yet committed, is sent again at the restart: the
only duplicate there can be, and never of a message whose delivery was recorded.

Outbox rows map as: topic = the recipient, payload = the RenderedMessage's JSON, kind =
alarm (never expired, evicted last), message id = "<event id>/<recipient>" (a message queued
twice for one recipient is refused as a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.notify.channel import Channel, ChannelDown, RenderedMessage, Undeliverable
from gateway.runtime.backoff import Backoff
from gateway.store.outbox import DuplicateMessage, Kind, Message, Outbox, Stored

logger = logging.getLogger(__name__)

# What the Telegram channel needs to edit a message it sent (who acknowledged it).
SentHook = Callable[[str, RenderedMessage, str], None]


@dataclass
class SenderCounts:
    """What one channel's sender did since the start (the status and /metrics show it)."""

    sent: int = 0
    undeliverable: int = 0
    unreadable: int = 0  # stored rows that were not messages: dropped
    outages: int = 0
    down_since: float | None = None  # monotonic, while the channel is down
    last_error: str = ""
    by_recipient: dict[str, int] = field(default_factory=dict)


class ChannelSender:
    """Queues rendered messages for one channel and sends them, oldest first."""

    def __init__(
        self,
        channel: Channel,
        outbox: Outbox,
        on_sent: SentHook | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.channel = channel
        self._outbox = outbox
        self._on_sent = on_sent
        self._backoff = backoff or Backoff(initial_s=1.0, max_s=60.0)
        self._wake = asyncio.Event()
        self.counts = SenderCounts()

    async def queue(self, recipient: str, message: RenderedMessage) -> bool:
        """Store `message` for `recipient`; durable when this returns. False if it was queued
        already (same event, same recipient)."""
        stored = Message(
            topic=recipient,
            payload=message.to_json(),
            qos=1,
            retain=False,
            kind=Kind.ALARM,
            message_id=f"{message.event_id}/{recipient}",
            created_s=time.time(),
        )
        try:
            await self._outbox.put(stored)
        except DuplicateMessage:
            logger.debug("%s: %s for %r already queued", self.channel.name,
                         message.event_id, recipient)
            return False
        self._wake.set()
        return True

    def waiting(self) -> int:
        """Messages not yet sent."""
        return self._outbox.depth()

    async def run(self) -> None:
        """Send what is queued, in order, until cancelled; waits out outages."""
        while True:
            batch = await self._outbox.peek(1)
            if not batch:
                self._wake.clear()
                # The timeout also picks up what a failed write left for `retry` to store.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5.0):
                        await self._wake.wait()
                continue
            delay = await self._send(batch[0])
            if delay is not None:
                await asyncio.sleep(delay)

    async def _send(self, stored: Stored) -> float | None:
        """Send one stored message; the seconds to wait before the next try, or None."""
        recipient = stored.message.topic
        try:
            message = RenderedMessage.from_json(stored.message.payload)
        except ValueError as error:
            self.counts.unreadable += 1
            logger.error("%s: dropped stored message %s: %s", self.channel.name,
                         stored.message.message_id, error)
            await self._outbox.ack(stored.seq)
            return None
        try:
            remote_id = await self.channel.send(recipient, message)
        except ChannelDown as down:
            return self._down(down)
        except Undeliverable as refused:
            self.counts.undeliverable += 1
            logger.warning("%s: message %s to %r refused for good, dropped: %s",
                           self.channel.name, stored.message.message_id, recipient,
                           refused.reason)
            await self._outbox.ack(stored.seq)
            return None
        await self._outbox.ack(stored.seq)
        self._up()
        self.counts.sent += 1
        self.counts.by_recipient[recipient] = self.counts.by_recipient.get(recipient, 0) + 1
        if self._on_sent is not None:
            self._on_sent(recipient, message, remote_id)
        _raise_if_cancelled()
        return None

    def _down(self, down: ChannelDown) -> float:
        counts = self.counts
        counts.last_error = down.reason
        if counts.down_since is None:
            counts.down_since = time.monotonic()
            counts.outages += 1
            logger.warning("%s: cannot send (%s); %d messages wait in its outbox",
                           self.channel.name, down.reason, self.waiting())
        else:
            logger.debug("%s: still cannot send: %s", self.channel.name, down.reason)
        if down.retry_after is not None:
            return down.retry_after
        return self._backoff.next_delay()

    def _up(self) -> None:
        counts = self.counts
        if counts.down_since is not None:
            logger.info("%s: sending again after %.1f s", self.channel.name,
                        time.monotonic() - counts.down_since)
            counts.down_since = None
            counts.last_error = ""
        self._backoff.reset()


def _raise_if_cancelled() -> None:
    """Raise the cancellation a channel's library swallowed (style.md section 5).

    A cancellation that lands while aiosmtplib closes its connection (QUIT, in
    SMTP.__aexit__, which ignores the errors of closing) can be lost: `send` returned
    normally from a cancelled task, which then waited for new messages for ever (seen in
    tests/gateway/notify/test_email.py). The message was delivered and acknowledged.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
