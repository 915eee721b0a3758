"""Samples and scores to ClickHouse in batches, through a durable outbox (issue #16).

Decisions, in the order a reader meets them:
- The fan-out hands rows over on the poll loops' hot path: they are only appended to a
  bounded queue in memory. A store task encodes them (gateway.export.rows) and commits
  them to the outbox (gateway.store.outbox, `<data_dir>/export-clickhouse.sqlite`), at
  most `batch_rows` rows a message, as soon as the previous commit is done: what a SIGKILL
  can lose is what waited for that one commit (milliseconds).
- Batches are made when sending, from the oldest stored messages: a send waits until
  `batch_rows` rows are stored or the oldest has waited `max_delay`, then posts them in
  one INSERT and deletes them from the outbox once ClickHouse answered 200. A backlog
  (after an outage or a restart) goes out at once, oldest first, batch after batch.
- At least once: a batch ClickHouse took whose deletion was not committed (a SIGKILL, a
  lost answer) is sent again. The table is a ReplacingMergeTree keyed by gateway, series
  and time (gateway.export.schema), so the repeat is harmless to queries with FINAL or
  argMax/GROUP BY.
- An outage grows the outbox; its bound (`outbox_max_messages`, `outbox_max_age`) drops
  the oldest stored rows first, counted by the outbox and logged once. Only telemetry is
  in this path: alarms go to OPC UA, MQTT and the notifications, never through here.
- One WARNING when ClickHouse stops taking inserts (with its reason), one INFO when it
  takes them again (with the outage's length and what waited); retries back off to 60 s.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from gateway.config.export import ClickhouseSection
from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.storage import StorageHealth
from gateway.export import schema
from gateway.export.clickhouse import Clickhouse, ClickhouseUnavailable
from gateway.export.rows import Row, RowEncoder, sample_rows, score_rows
from gateway.opcua.status import status_code
from gateway.runtime.backoff import Backoff
from gateway.store.outbox import Kind, Message, MessageRefused, Outbox, Stored

logger = logging.getLogger(__name__)

OUTBOX_FILE = "export-clickhouse.sqlite"
# Rows waiting in memory for the outbox (a slow or full disk): beyond this the oldest go.
PENDING_MAX_ROWS = 1_000_000
_PEEK_MESSAGES = 256

# The OPC UA StatusCode of each quality, as a number (gateway.opcua.status's map).
_OPC_STATUS = {quality: int(status_code(quality).value) for quality in Quality}


@dataclass
class ExportCounts:
    """What the exporter did since the start."""

    rows_sent: int = 0
    batches_sent: int = 0
    rows_dropped: int = 0  # before the outbox: its memory queue overflowed, or a full disk
    failures: int = 0  # inserts ClickHouse did not take
    last_error: str = ""
    down_since: float | None = None  # monotonic, while inserts fail


class ClickhouseExporter:
    """Feeds the rows of one gateway to one ClickHouse table; run it with `run()`."""

    def __init__(
        self,
        section: ClickhouseSection,
        gateway: str,
        outbox: Outbox,
        clickhouse: Clickhouse,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._section = section
        self._outbox = outbox
        self._clickhouse = clickhouse
        self._encoder = RowEncoder(gateway, _OPC_STATUS.__getitem__)
        self._insert = schema.insert(section.database, section.table)
        self._backoff = backoff or Backoff(initial_s=1.0, max_s=60.0)
        self._clock = clock
        self._pending: collections.deque[Row] = collections.deque()
        self._store_wanted = asyncio.Event()
        self._stored = asyncio.Event()
        # Rows stored in this run and not sent yet, and when the oldest of them was stored
        # (monotonic): what decides whether a batch is due.
        self._unsent_rows = 0
        self._unsent_since = 0.0
        # Whatever the outbox held at the start is a backlog: it goes at once.
        self._draining = True
        self.counts = ExportCounts()

    def samples(self, samples: Sequence[Sample]) -> None:
        """The poll loops' samples (on their hot path: queued only)."""
        self._queue(sample_rows(samples))

    def scores(self, scores: Sequence[Score]) -> None:
        """The assets' model outputs."""
        self._queue(score_rows(scores))

    def depth(self) -> int:
        """Messages waiting in the outbox."""
        return self._outbox.depth()

    def outbox_dropped(self) -> int:
        """Stored messages the outbox dropped unsent (its bound or their age) since open."""
        return sum(self._outbox.dropped().values())

    async def run(self) -> None:
        """Store and send until cancelled; what waits in memory is stored on the way out."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._store(), name="export-store")
                group.create_task(self._send(), name="export-send")
        finally:
            await asyncio.shield(self._flush_pending())

    def _queue(self, rows: list[Row]) -> None:
        self._pending.extend(rows)
        excess = len(self._pending) - PENDING_MAX_ROWS
        if excess > 0:
            for _ in range(excess):
                self._pending.popleft()
            self._dropped(excess, f"more than {PENDING_MAX_ROWS} rows wait for the outbox: "
                          "the oldest are dropped")
        self._store_wanted.set()

    def _dropped(self, rows: int, reason: str) -> None:
        if self.counts.rows_dropped == 0:
            logger.warning("ClickHouse export: %s", reason)
        self.counts.rows_dropped += rows

    async def _store(self) -> None:
        while True:
            await self._store_wanted.wait()
            self._store_wanted.clear()
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        while self._pending:
            rows = list(self._pending)
            self._pending.clear()
            size = self._section.batch_rows
            now = self._clock()
            messages = [
                Message(topic="", payload=self._encoder.encode(rows[start:start + size]),
                        qos=0, retain=False, kind=Kind.TELEMETRY,
                        message_id=uuid.uuid4().hex, created_s=now)
                for start in range(0, len(rows), size)
            ]
            try:
                await self._outbox.put_many(messages)
            except MessageRefused as refused:
                self._dropped(len(rows), f"rows not stored: {refused}")
                continue
            if self._unsent_rows == 0:
                self._unsent_since = time.monotonic()
            self._unsent_rows += len(rows)
            self._stored.set()

    async def _send(self) -> None:
        while True:
            await self._due()
            batch = await self._batch()
            if not batch:
                self._draining = False
                self._unsent_rows = 0
                continue
            rows = sum(_rows(stored) for stored in batch)
            try:
                await self._clickhouse.execute(
                    self._insert, b"".join(stored.message.payload for stored in batch))
            except ClickhouseUnavailable as error:
                self._failed(str(error))
                self._draining = True  # once back, the backlog goes at once
                await asyncio.sleep(self._backoff.next_delay())
                continue
            await self._outbox.ack_many(stored.seq for stored in batch)
            # A batch short of batch_rows took all there was: the backlog is gone.
            self._draining = rows >= self._section.batch_rows
            self._sent(rows, len(batch))

    async def _due(self) -> None:
        """Wait until a batch should go: a backlog, `batch_rows` rows, or `max_delay`."""
        while True:
            if self._draining and self._outbox.depth() > 0:
                return
            if self._unsent_rows >= self._section.batch_rows:
                return
            timeout = None
            if self._unsent_rows > 0:
                timeout = self._unsent_since + self._section.max_delay - time.monotonic()
                if timeout <= 0:
                    return
            self._stored.clear()
            try:
                await asyncio.wait_for(self._stored.wait(), timeout)
            except TimeoutError:
                return

    async def _batch(self) -> list[Stored]:
        """The oldest stored messages, up to `batch_rows` rows (at least one message)."""
        batch: list[Stored] = []
        rows, after = 0, 0
        while True:
            page = await self._outbox.peek(_PEEK_MESSAGES, after=after)
            for stored in page:
                more = _rows(stored)
                if batch and rows + more > self._section.batch_rows:
                    return batch
                batch.append(stored)
                rows += more
            if len(page) < _PEEK_MESSAGES:
                return batch
            after = page[-1].seq

    def _failed(self, reason: str) -> None:
        counts = self.counts
        counts.failures += 1
        counts.last_error = reason
        if counts.down_since is None:
            counts.down_since = time.monotonic()
            logger.warning("ClickHouse export: inserts fail, rows wait in the outbox: %s",
                           reason)
        else:
            logger.debug("ClickHouse export: still failing: %s", reason)

    def _sent(self, rows: int, messages: int) -> None:
        counts = self.counts
        counts.rows_sent += rows
        counts.batches_sent += 1
        self._unsent_rows = max(0, self._unsent_rows - rows)
        if self._unsent_rows > 0:
            self._unsent_since = time.monotonic()
        if counts.down_since is not None:
            logger.info("ClickHouse export: inserts taken again after %.0f s; %d messages "
                        "wait in the outbox", time.monotonic() - counts.down_since,
                        self._outbox.depth())
            counts.down_since = None
            self._backoff.reset()
        logger.debug("ClickHouse export: %d rows in %d messages sent", rows, messages)


def _rows(stored: Stored) -> int:
    return stored.message.payload.count(b"\n")


@asynccontextmanager
async def clickhouse_exporter(
    config: GatewayConfig, storage: StorageHealth
) -> AsyncIterator[ClickhouseExporter]:
    """The configured exporter with its outbox and HTTP session open; run it with `run()`."""
    section = None if config.export is None else config.export.clickhouse
    if section is None:
        raise ValueError("no [export.clickhouse] section")
    password = await asyncio.to_thread(section.password)
    async with (
        Outbox.open(config.gateway.data_dir / OUTBOX_FILE,
                    max_messages=section.outbox_max_messages,
                    max_age_s=section.outbox_max_age, health=storage) as outbox,
        Clickhouse.open(section, password) as clickhouse,
    ):
        yield ClickhouseExporter(section, config.gateway.name, outbox, clickhouse)
