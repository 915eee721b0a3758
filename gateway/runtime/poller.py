"""One device's supervised poll loop: schedule, read, decode, quality, backoff, writes."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.base import (
    BlockDecoder,
    Connection,
    DriverError,
    IllegalAddress,
    ReadBlock,
    Rejected,
    Table,
    Tag,
    Unavailable,
)
from gateway.config.model import DeviceConfig, TagConfig
from gateway.core.clock import Clock, SystemClock
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.status import DeviceStatus
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.runtime.backoff import Backoff
from gateway.runtime.field_driver import FieldDriver
from gateway.runtime.tag_state import TagState

logger = logging.getLogger(__name__)

SampleSink = Callable[[Sequence[Sample]], None]
StatusSink = Callable[[DeviceStatus], None]


@dataclass(frozen=True)
class PollerOptions:
    backoff_max_s: float = 10.0
    hole_retry_s: float = 60.0  # how often an address the device called illegal is re-tried
    request_queue_size: int = 64  # writes and register reads waiting for the loop


@dataclass
class _WriteRequest:
    tag: Tag
    value: Value
    done: asyncio.Future[None]


@dataclass
class _ReadRequest:
    block: ReadBlock
    done: asyncio.Future[list[int]]


_Request = _WriteRequest | _ReadRequest


@dataclass(frozen=True, slots=True, eq=False)
class _Read:
    """One block of the plan with what reading it needs, made once per block: the block's
    decoding and its tags' states in the block's order (a poll loop reads the same blocks
    every cycle; issue #17). Compared by identity, which is cheap: a block's equality and
    hash go through every one of its tags."""

    block: ReadBlock
    decode: BlockDecoder
    states: tuple[TagState, ...]


def _outside_range(config: TagConfig, value: Value) -> str | None:
    """Why `value` is outside the tag's configured `range`, or None (NaN is outside too)."""
    if config.range is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, high = config.range
    if low <= value <= high:
        return None
    return f"{value!r} is outside the tag's range [{low:g}, {high:g}]"


def _wake(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)


class DevicePoller:
    """Polls one device on its own interval and publishes what changed.

    Link failures (`Unavailable`) degrade every tag and retry with backoff; exception
    answers (`Rejected`) degrade the tags of one block; a block answered ILLEGAL DATA
    ADDRESS is split until the missing address is found, and remembered as a hole.
    Writes and register reads are queued into this loop, so the connection is only ever
    used from here; those still waiting when the loop stops fail.

    Any other exception (a bug, a library error the driver did not translate) is contained
    here, per device (issue #17): the device's tags go Bad, its status shows the error, it
    is logged once with its traceback and counted, the connection is opened again after a
    backoff, and the other devices never notice. docs/style.md §5 would end the process
    instead; but a fault that comes back at every start (a device URL saved from the page)
    would then keep the whole plant's data from flowing until someone edits files by hand.
    """

    def __init__(
        self,
        device: DeviceConfig,
        driver: FieldDriver,
        sink: SampleSink,
        status_sink: StatusSink,
        clock: Clock | None = None,
        options: PollerOptions | None = None,
    ) -> None:
        self.device = device
        self._driver = driver
        self._sink = sink
        self._status_sink = status_sink
        self._clock = clock or SystemClock()
        self._options = options or PollerOptions()
        self._configs = {tag.name: tag for tag in device.tags}
        self._tags = {tag.name: driver.tag(device.name, tag) for tag in device.tags}
        self._states = {
            self._tags[cfg.name].key: TagState(self._tags[cfg.name].key, cfg.deadband)
            for cfg in device.tags
        }
        self._reads = [
            self._plan(block) for block in driver.plan(device, list(self._tags.values()))
        ]
        self._holes: dict[_Read, float] = {}
        # Writes and register reads for this loop, with the wake-up of the loop's wait.
        self._requests: deque[_Request] = deque()
        self._waiting: asyncio.Future[None] | None = None
        self._serving: _Request | None = None
        self._backoff = Backoff(
            device.poll_interval, max(device.poll_interval, self._options.backoff_max_s)
        )
        self._down_since: float | None = None
        self._failed_since: float | None = None  # since the first unexpected error in a row
        self._last_error = ""
        self.poll_count = 0
        self.error_count = 0
        self.unexpected_errors = 0
        self.overruns = 0
        self._round_trip_s: float | None = None

    @property
    def connected(self) -> bool:
        return self._down_since is None and self._failed_since is None and self.poll_count > 0

    @property
    def blocks(self) -> list[ReadBlock]:
        """The current read plan, refined by any holes found so far."""
        return [read.block for read in self._reads]

    async def run(self) -> None:
        """Poll until cancelled; an unexpected error is contained and retried (see class)."""
        try:
            while True:
                try:
                    async with self._driver.open(self.device) as conn:
                        await self._loop(conn)
                except Exception as exc:  # noqa: BLE001 - issue #17, see the class docstring
                    delay_s = self._backoff.next_delay()
                    self._failed_unexpectedly(exc, delay_s)
                    await asyncio.sleep(delay_s)
        finally:
            self._fail_requests()

    async def write(self, tag_name: str, value: Value) -> None:
        """Write a tag's value through the device loop; raises WriteFailure."""
        tag = self._tags.get(tag_name)
        if tag is None:
            raise WriteFailure(WriteFailureReason.UNKNOWN_TAG, f"{self.device.name}.{tag_name}")
        if not self._configs[tag_name].writable:
            raise WriteFailure(WriteFailureReason.NOT_WRITABLE, tag.key)
        out_of_range = _outside_range(self._configs[tag_name], value)
        if out_of_range is not None:
            # Refused here, before the device is asked (issue #14): a SCADA engineer expects
            # the tag's own range to answer BadOutOfRange, not the device's exception.
            raise WriteFailure(WriteFailureReason.OUT_OF_RANGE, f"{tag.key}: {out_of_range}")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self._enqueue(_WriteRequest(tag, value, done)):
            raise WriteFailure(
                WriteFailureReason.COMM_ERROR, f"{tag.key}: too many requests pending"
            )
        await done

    async def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """Read `count` registers from `address` through the device loop (for coil and
        discrete tables, bits as 0 or 1).

        Raises what the driver raises (Unavailable while the link is down, Rejected or
        IllegalAddress for the device's exception answers, ValueError for a span no device
        may be asked for), and Unavailable when too many requests wait or the loop stops.
        """
        block = ReadBlock(self.device.unit_id, table, address, count)
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        if not self._enqueue(_ReadRequest(block, done)):
            raise Unavailable(f"{self.device.name}: too many requests pending")
        return await done

    def _enqueue(self, request: _Request) -> bool:
        """Queue a request for the loop and wake it; False when the queue is full."""
        if len(self._requests) >= self._options.request_queue_size:
            return False
        self._requests.append(request)
        if self._waiting is not None:
            _wake(self._waiting)
        return True

    async def _loop(self, conn: Connection) -> None:
        task = asyncio.current_task()
        wake = next_poll = self._clock.monotonic() + self._phase_s()
        while True:
            if task is not None and task.cancelling():
                # Python 3.11's wait_for (used inside pymodbus) can swallow a cancellation
                # that lands as an answer arrives (CPython gh-86296); honour it here.
                raise asyncio.CancelledError
            request = await self._next_request(wake - self._clock.monotonic())
            if request is not None:
                self._serving = request
                if isinstance(request, _WriteRequest):
                    await self._serve_write(conn, request)
                    if self._down_since is None:
                        # Let the client see the device's new value without waiting a full
                        # interval.
                        next_poll = wake = self._clock.monotonic()
                else:
                    await self._serve_read(conn, request)
                self._serving = None
                continue
            now = self._clock.monotonic()
            if self._down_since is not None and now < next_poll:
                self._expire_stale(now)
            else:
                ok = await self._cycle(conn)
                now = self._clock.monotonic()
                if ok:
                    next_poll += self.device.poll_interval
                    if next_poll <= now:
                        self.overruns += 1
                        next_poll = now + self.device.poll_interval
                else:
                    next_poll = now + self._backoff.next_delay()
            wake = min(next_poll, self._stale_deadline() or next_poll)

    def _phase_s(self) -> float:
        """A fixed offset of this device's polls inside the first second of its interval.

        Devices started together would otherwise poll in lockstep: every request of the
        plant queued in the same millisecond, and every answer waiting behind the others.
        """
        spread_s = min(self.device.poll_interval, 1.0)
        return zlib.crc32(self.device.name.encode()) / 2**32 * spread_s

    async def _next_request(self, timeout_s: float) -> _Request | None:
        """The next queued request, waiting for one up to `timeout_s`; None if none came.

        A future woken by `_enqueue` or a timer, not `asyncio.Queue.get` under
        `asyncio.timeout`: that wait ends almost every cycle by its timeout, and a timeout
        cancels the getter and converts the exception, which cost more than the read's
        own decoding (issue #17).
        """
        if not self._requests and timeout_s > 0:
            loop = asyncio.get_running_loop()
            self._waiting = waiting = loop.create_future()
            timer = loop.call_later(timeout_s, _wake, waiting)
            try:
                await waiting
            finally:
                timer.cancel()
                self._waiting = None
        return self._requests.popleft() if self._requests else None

    def _fail_requests(self) -> None:
        """Answer the request being served and those waiting: the loop has stopped."""
        pending = [] if self._serving is None else [self._serving]
        self._serving = None
        pending += self._requests
        self._requests.clear()
        for request in pending:
            if request.done.done():  # the caller gave up waiting
                continue
            if isinstance(request, _WriteRequest):
                request.done.set_exception(
                    WriteFailure(
                        WriteFailureReason.COMM_ERROR, f"{request.tag.key}: the device loop stopped"
                    )
                )
            else:
                request.done.set_exception(
                    Unavailable(f"{self.device.name}: the device loop stopped")
                )

    async def _cycle(self, conn: Connection) -> bool:
        """One pass over the plan; False when the link failed."""
        self.poll_count += 1
        samples: list[Sample] = []
        try:
            for read in self._due_reads():
                await self._read(conn, read, samples)
                # Publish per block: the first block's values need not wait for the last.
                self._flush(samples)
        except Unavailable as exc:
            self._link_failed(exc, samples)
            ok = False
        else:
            self._link_ok()
            ok = True
        self._round_trip_s = getattr(conn, "round_trip_s", None)
        self._flush(samples)
        self._status_sink(self.status())
        return ok

    def _flush(self, samples: list[Sample]) -> None:
        if samples:
            self._sink(tuple(samples))
            samples.clear()

    def _plan(self, block: ReadBlock) -> _Read:
        states = self._states
        return _Read(block, self._driver.decoder(block), tuple(states[t.key] for t in block.tags))

    def _due_reads(self) -> list[_Read]:
        """This cycle's reads: a copy, since a read may split or drop its block."""
        if not self._holes:
            return self._reads.copy()
        now = self._clock.monotonic()
        return self._reads + [read for read, retry_at in self._holes.items() if retry_at <= now]

    async def _read(self, conn: Connection, read: _Read, samples: list[Sample]) -> None:
        block = read.block
        try:
            data = await conn.read(block)
        except IllegalAddress as exc:
            self._count_error(exc)
            pieces = self._driver.split(block) if len(block.tags) > 1 else []
            if len(pieces) > 1 and read in self._reads:
                await self._read_pieces(conn, read, pieces, samples)
            else:
                self._mark_hole(read, exc, samples)
            return
        except Rejected as exc:
            self._count_error(exc)
            self._degrade(block.tags, Quality.DEVICE_ERROR, samples)
            return
        if self._holes and read in self._holes:
            logger.info(
                "%s: %s %d+%d is readable again",
                self.device.name,
                block.table,
                block.start,
                block.count,
            )
            del self._holes[read]
            self._reads.append(read)
        # Every value of one read shares its times.
        now_mono, now = self._clock.monotonic(), self._clock.now()
        for state, value in zip(read.states, read.decode(data), strict=True):
            sample = state.observe(value, now_mono, now)
            if sample is not None:
                samples.append(sample)

    def _mark_hole(self, read: _Read, exc: IllegalAddress, samples: list[Sample]) -> None:
        block = read.block
        if read not in self._holes:
            logger.warning(
                "%s: %s does not exist on the device (%s); retrying every %.0f s",
                self.device.name,
                ", ".join(t.key for t in block.tags),
                exc,
                self._options.hole_retry_s,
            )
        if read in self._reads:
            self._reads.remove(read)
        self._holes[read] = self._clock.monotonic() + self._options.hole_retry_s
        self._degrade(block.tags, Quality.CONFIG_ERROR, samples)

    async def _read_pieces(
        self, conn: Connection, read: _Read, pieces: list[ReadBlock], samples: list[Sample]
    ) -> None:
        block = read.block
        logger.info(
            "%s: %s %d+%d answered illegal address; split into %d reads",
            self.device.name,
            block.table,
            block.start,
            block.count,
            len(pieces),
        )
        planned = [self._plan(piece) for piece in pieces]
        index = self._reads.index(read)
        self._reads[index : index + 1] = planned
        for piece in planned:
            await self._read(conn, piece, samples)

    def _degrade(self, tags: Sequence[Tag], quality: Quality, samples: list[Sample]) -> None:
        now = self._clock.now()
        for tag in tags:
            sample = self._states[tag.key].fail(quality, now)
            if sample is not None:
                samples.append(sample)

    def _count_error(self, exc: Exception) -> None:
        self.error_count += 1
        self._last_error = str(exc)

    def _failed_unexpectedly(self, exc: Exception, retry_in_s: float) -> None:
        """Every tag Bad, the error in the status, logged once per run of failures."""
        self.unexpected_errors += 1
        self._count_error(exc)
        self._last_error = f"unexpected error: {type(exc).__name__}: {exc}"
        if self._failed_since is None:
            self._failed_since = self._clock.monotonic()
            logger.error(
                "%s: %s; its tags are Bad, retrying in %.1f s with backoff",
                self.device.name,
                self._last_error,
                retry_in_s,
                exc_info=exc,
            )
        else:
            logger.debug("%s: still failing: %s", self.device.name, self._last_error)
        self._fail_requests()
        samples: list[Sample] = []
        self._degrade(list(self._tags.values()), Quality.COMM_ERROR, samples)
        self._flush(samples)
        self._status_sink(self.status())

    def _link_failed(self, exc: Unavailable, samples: list[Sample]) -> None:
        self._count_error(exc)
        now_mono = self._clock.monotonic()
        if self._down_since is None:
            self._down_since = now_mono
            logger.warning("%s: link down: %s", self.device.name, exc)
        else:
            logger.debug("%s: still down: %s", self.device.name, exc)
        self._expire_stale(now_mono, samples)

    def _expire_stale(self, now_mono: float, samples: list[Sample] | None = None) -> None:
        collected = [] if samples is None else samples
        now = self._clock.now()
        stale_after = self.device.stale_after
        for state in self._states.values():
            sample = state.link_failed(now_mono, stale_after, now)
            if sample is not None:
                collected.append(sample)
        if samples is None and collected:
            self._sink(collected)

    def _stale_deadline(self) -> float | None:
        if self._down_since is None or not self.device.stale_after:
            return None
        deadlines = [
            d
            for s in self._states.values()
            if (d := s.stale_deadline(self.device.stale_after)) is not None
        ]
        return min(deadlines, default=None)

    def _link_ok(self) -> None:
        if self._failed_since is not None:
            logger.info(
                "%s: polling again after %.1f s of unexpected errors",
                self.device.name,
                self._clock.monotonic() - self._failed_since,
            )
            self._failed_since = None
        if self._down_since is not None:
            outage = self._clock.monotonic() - self._down_since
            logger.info("%s: link back after %.1f s", self.device.name, outage)
            self._down_since = None
            # Holes were judged before the outage; check them again now.
            self._holes = dict.fromkeys(self._holes, 0.0)
        self._backoff.reset()

    async def _serve_write(self, conn: Connection, request: _WriteRequest) -> None:
        failure: WriteFailure | None = None
        try:
            await self._driver.write(conn, request.tag, request.value)
        except WriteFailure as exc:
            failure = exc
        except IllegalAddress as exc:
            failure = WriteFailure(WriteFailureReason.CONFIG_ERROR, str(exc))
        except Rejected as exc:
            failure = WriteFailure(WriteFailureReason.DEVICE_ERROR, str(exc))
        except Unavailable as exc:
            failure = WriteFailure(WriteFailureReason.COMM_ERROR, str(exc))
        if request.done.done():  # the client gave up waiting
            return
        if failure is None:
            logger.info("%s: wrote %r", request.tag.key, request.value)
            request.done.set_result(None)
        else:
            logger.warning("%s: write of %r failed: %s", request.tag.key, request.value, failure)
            request.done.set_exception(failure)

    async def _serve_read(self, conn: Connection, request: _ReadRequest) -> None:
        block = request.block
        try:
            data = await conn.read(block)
        except (DriverError, ValueError) as exc:
            if not request.done.done():
                request.done.set_exception(exc)
            return
        if not request.done.done():
            # Bit reads come back padded to whole bytes.
            request.done.set_result([int(item) for item in data[: block.count]])

    def status(self) -> DeviceStatus:
        return DeviceStatus(
            device=self.device.name,
            connected=self.connected,
            last_error=self._last_error,
            poll_count=self.poll_count,
            error_count=self.error_count,
            round_trip_s=self._round_trip_s,
            overruns=self.overruns,
            unexpected_errors=self.unexpected_errors,
        )
