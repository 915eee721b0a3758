"""Store-and-forward: the outbox handed to paho in order, deleted once the broker confirmed.

Every alarm and state message is committed to the outbox first (gateway.store.outbox). A
reader task keeps up to one window of the oldest messages read ahead; a sender task hands
them to paho as soon as there is room, with at most `window` unconfirmed (and at most the
broker's MQTT 5 Receive Maximum); a third task deletes confirmed messages. A message is
deleted only once the broker confirmed it (PUBACK, PUBCOMP for QoS 2; with QoS 0, once
paho wrote it to the socket, since no confirmation will come). Reads (`peek`) and
deletions (`ack_many`) go in batches, one SQLite transaction each, never one per message;
reading ahead keeps the link busy while SQLite works. The window here is the only one:
paho's own in-flight limit is off (gateway/mqtt/client.py says why).

paho's own resending is not used. paho keeps unconfirmed QoS>0 messages in memory and
sends them again after the next CONNACK, but only after its on_connect callback has run,
and a message published from another thread while it reconnects (after CONNECT, before
CONNACK) is written at once: either would overtake the older messages. So:
- before each new connection's socket, on_pre_connect (paho's thread) empties paho's queue
  (`forget_unsent`), under a lock that the sender holds while it hands a batch over: no
  batch straddles a reconnect;
- the sender publishes only on a connection that both threads agree is up: the bridge
  numbers each connection in paho's thread (`link`), and tells the loop the number
  (`connected_as`) after the loop has processed the previous disconnect
  (call_soon_threadsafe keeps their order);
- when a connection ends (`disconnected`), the loop forgets what paho held and what was
  read ahead, and moves the cursor back to the oldest unconfirmed message: the outbox sends
  it again, then everything after, skipping messages confirmed meanwhile whose deletion is
  still being committed.
Nothing is lost: a message leaves the outbox only after its confirmation. Nothing is
reordered: one sender, one cursor, never two copies queued in paho. Duplicates are only
the messages the broker received but whose PUBACK was lost with the connection (QoS 1
allows that), plus after a crash the confirmed ones whose deletion had not been committed
yet (at most one `ack_many` batch); each carries the same id, so the receiver can tell.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading

from paho.mqtt.client import Client
from paho.mqtt.reasoncodes import ReasonCode

from gateway.mqtt.inflight import InFlight
from gateway.store import Outbox, Stored

logger = logging.getLogger(__name__)


class Delivery:
    """The pipeline from one outbox to one paho client; build it inside the event loop."""

    def __init__(self, outbox: Outbox, client: Client, window: int, broker: str) -> None:
        self._outbox = outbox
        self._client = client
        self._window = window
        self._broker = broker  # for log lines
        self._loop = asyncio.get_running_loop()
        # Shared with paho's thread.
        self.gate = threading.Lock()  # held while a batch is handed to paho
        self.link: int | None = None  # the live connection's number, set in paho's thread
        self._pubacks: collections.deque[tuple[int, ReasonCode]] = collections.deque()
        self._pubacks_scheduled = False
        # The event loop's own.
        self._epoch: int | None = None  # number of the connection the loop knows is up
        self._generation = 0  # +1 per lost connection: a read begun before it is stale
        self._limit = window  # the window, or the broker's Receive Maximum if lower
        self._flight = InFlight()
        self._ahead: collections.deque[Stored] = collections.deque()
        self._readable = asyncio.Event()
        self._sendable = asyncio.Event()
        self._deletable = asyncio.Event()
        self._rejecting = False
        self.delivered = 0  # confirmed by the broker
        self.rejected = 0  # refused by the broker (MQTT 5 reason >= 0x80): deleted, not retried

    @property
    def connected(self) -> bool:
        return self._epoch is not None

    async def run(self) -> None:
        """Read, send and delete until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read(), name="mqtt-read")
            group.create_task(self._send(), name="mqtt-send")
            group.create_task(self._delete_confirmed(), name="mqtt-delete")

    async def finish(self, timeout_s: float) -> None:
        """After `run`: wait up to `timeout_s` for the unconfirmed messages (fewer are sent
        twice after a restart), then delete every confirmed one."""
        if self._epoch is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    while len(self._flight):
                        self._sendable.clear()
                        await self._sendable.wait()
        await self._delete(self._flight.take_deletions())

    def queued(self) -> None:
        """New messages are in the outbox."""
        self._readable.set()

    def connected_as(self, epoch: int, receive_maximum: int | None) -> None:
        """The loop's side of connection `epoch` being up."""
        self._epoch = epoch
        # One of the broker's Receive Maximum is left to the status message.
        allowed = max(1, receive_maximum - 1) if receive_maximum else self._window
        self._limit = min(self._window, allowed)
        self._readable.set()
        self._sendable.set()

    def disconnected(self) -> int:
        """The connection ended: read and send again from the oldest unconfirmed message;
        returns how many were unconfirmed."""
        self._epoch = None
        self._generation += 1
        self._ahead.clear()
        self._readable.set()
        self._sendable.set()
        return self._flight.lost()

    def forget_unsent(self) -> None:
        """paho's thread, before a new connection: take paho's queue away from it."""
        with self.gate:
            self._client.drop_out_messages()

    def on_publish(self, mid: int, reason: ReasonCode) -> None:
        """paho's thread: the broker confirmed `mid`."""
        # One loop wake-up per burst of confirmations rather than one per message. The loop
        # clears the flag before it empties the deque, so no confirmation is left waiting.
        self._pubacks.append((mid, reason))
        if not self._pubacks_scheduled:
            self._pubacks_scheduled = True
            self._loop.call_soon_threadsafe(self._take_pubacks)

    async def _read(self) -> None:
        """Keep up to a window of the next messages read ahead of the sender."""
        while True:
            self._readable.clear()
            # A whole window even if the broker allows fewer in flight; refilled once half
            # of it is gone: fewer, larger reads.
            wanted = self._window - len(self._ahead)
            if self._epoch is not None and wanted >= max(1, self._window // 2):
                generation = self._generation
                after = self._ahead[-1].seq if self._ahead else self._flight.cursor
                batch = await self._outbox.peek(wanted, after=after)
                if generation != self._generation:
                    continue  # the connection changed meanwhile: read again from the cursor
                self._ahead.extend(batch)
                self._sendable.set()
                if len(batch) == wanted:
                    continue  # there may be more
            await self._readable.wait()

    async def _send(self) -> None:
        """Hand what was read ahead to paho while the window has room."""
        while True:
            self._sendable.clear()
            epoch = self._epoch
            room = self._limit - len(self._flight)
            if epoch is not None and room > 0 and self._ahead and self._hand_over(epoch, room):
                self._readable.set()
                continue
            await self._sendable.wait()

    def _hand_over(self, epoch: int, room: int) -> bool:
        """Publish up to `room` messages on connection `epoch`; False if it is gone."""
        with self.gate:
            if self._epoch != epoch or self.link != epoch:
                return False
            for _ in range(min(room, len(self._ahead))):
                stored = self._ahead.popleft()
                if self._flight.wanted(stored.seq):
                    message = stored.message
                    # Accepted whatever the return code: if the link just dropped, the
                    # disconnect that follows puts this message back in line.
                    info = self._client.publish(
                        message.topic, message.payload, message.qos, message.retain
                    )
                    self._flight.sent(info.mid, stored.seq)
        return True

    async def _delete_confirmed(self) -> None:
        """Delete confirmed messages from the outbox, all that gathered in one commit."""
        while True:
            await self._deletable.wait()
            self._deletable.clear()
            await self._delete(self._flight.take_deletions())

    async def _delete(self, seqs: list[int]) -> None:
        if seqs:
            await self._outbox.ack_many(seqs)
            self._flight.deleted(seqs)

    def _take_pubacks(self) -> None:
        self._pubacks_scheduled = False
        while self._pubacks:
            mid, reason = self._pubacks.popleft()
            if not self._flight.confirmed(mid):
                continue  # not from the outbox: the status message
            if not reason.is_failure:
                self.delivered += 1
                self._rejecting = False
                continue
            self.rejected += 1
            if not self._rejecting:
                self._rejecting = True
                logger.warning(
                    "MQTT broker %s refused a message (%s): deleted, not retried",
                    self._broker,
                    reason,
                )
        self._sendable.set()
        self._deletable.set()
