"""Property: whatever a Modbus TCP peer answers, the device loop reports a clear error and
keeps polling (issue #14, the fault and fuzz suite).

A real loopback peer answers the first requests of each example with Hypothesis-made
frames (garbage, a wrong transaction id, a short frame, a wrong function code, an
oversized length, the wrong register count), then correctly. The poller must count the
failure with a reason in its status, never take the error for a bug of its own
(`unexpected_errors`), never publish a bad frame's registers as a Good value, and read the
right value again once the peer behaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.core.quality import Quality
from tests.fixtures.modbus import HOST
from tests.gateway.runtime.test_poller import Recorder, make_device, polling, u16

GOOD_VALUE = 7
# Registers the bad frames carry: never the good value, so one taken for data shows.
BAD_WORDS = st.lists(st.integers(0, 0xFFFF).filter(lambda w: w != GOOD_VALUE), max_size=4)


def frame(tid: int, unit: int, pdu: bytes, length: int | None = None) -> bytes:
    """An MBAP frame; `length` overrides the header's count of the bytes that follow."""
    announced = len(pdu) + 1 if length is None else length
    return struct.pack(">HHHB", tid, 0, announced, unit) + pdu


def registers_pdu(words: list[int], function: int = 3) -> bytes:
    return struct.pack(f">BB{len(words)}H", function, 2 * len(words), *words)


@dataclass(frozen=True)
class Garbage:
    data: bytes

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        return self.data


@dataclass(frozen=True)
class WrongTransaction:
    offset: int
    words: list[int]

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        return frame((tid + self.offset) % 0x10000, unit, registers_pdu(self.words))


@dataclass(frozen=True)
class Short:
    keep: int
    words: list[int]

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        whole = frame(tid, unit, registers_pdu(self.words))
        return whole[: self.keep % len(whole)]


@dataclass(frozen=True)
class WrongFunction:
    function: int
    words: list[int]

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        return frame(tid, unit, registers_pdu(self.words, self.function))


@dataclass(frozen=True)
class Oversized:
    extra: int
    words: list[int]

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        pdu = registers_pdu(self.words)
        return frame(tid, unit, pdu, min(len(pdu) + 1 + self.extra, 0xFFFF))


@dataclass(frozen=True)
class WrongCount:
    words: list[int]

    def answer(self, tid: int, unit: int, count: int) -> bytes:
        return frame(tid, unit, registers_pdu(self.words))


Answer = Garbage | WrongTransaction | Short | WrongFunction | Oversized | WrongCount

ANSWERS: st.SearchStrategy[Answer] = st.one_of(
    st.builds(Garbage, st.binary(max_size=300)),
    st.builds(WrongTransaction, st.integers(1, 0xFFFF), BAD_WORDS.filter(len)),
    st.builds(Short, st.integers(0, 300), BAD_WORDS),
    st.builds(
        WrongFunction,
        st.integers(0, 0xFF).filter(lambda f: f not in (3, 0x83)),
        BAD_WORDS,
    ),
    st.builds(Oversized, st.integers(1, 0xFFFF), BAD_WORDS.filter(len)),
    st.builds(WrongCount, BAD_WORDS.filter(lambda words: len(words) != 1)),
)


class MisbehavingPeer:
    """Answers the first requests with `answers` (closing after each if `close`), then
    every read of holding registers with GOOD_VALUE."""

    def __init__(self, answers: list[Answer], close: bool) -> None:
        self._answers = list(answers)
        self._close = close
        self.bad_sent = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"modbus-tcp://{HOST}:{self.port}"

    @property
    def done(self) -> bool:
        return not self._answers

    async def __aenter__(self) -> MisbehavingPeer:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                count = struct.unpack(">H", pdu[3:5])[0]
                if self._answers:
                    writer.write(self._answers.pop(0).answer(tid, unit, count))
                    self.bad_sent += 1
                    await writer.drain()
                    if self._close:
                        break
                    continue
                writer.write(frame(tid, unit, registers_pdu([GOOD_VALUE] * count)))
                await writer.drain()
        writer.close()


async def poll_through(answers: list[Answer], close: bool) -> None:
    recorder = Recorder()
    async with MisbehavingPeer(answers, close) as peer:
        device = make_device(peer.url, [u16("a", 0)], timeout=0.2)
        async with polling(device, recorder) as poller:
            await recorder.wait(lambda: peer.done, "the bad answers to be sent")
            await recorder.wait(
                lambda: any(s.error_count and s.last_error for s in recorder.statuses),
                "an error with its reason in the device's status",
            )
            good = await recorder.wait_quality("dev.a", Quality.GOOD)
            polls = poller.poll_count
            await recorder.wait(lambda: poller.poll_count > polls + 1, "polling to go on")
    assert good.value == GOOD_VALUE
    taken = [s.value for s in recorder.samples if s.quality is Quality.GOOD]
    assert set(taken) == {GOOD_VALUE}, f"a bad frame was taken for data: {taken}"
    assert all(s.unexpected_errors == 0 for s in recorder.statuses), recorder.statuses[-1]


@settings(max_examples=30, deadline=None)
# The cases the issue names, always tried whatever Hypothesis draws.
@example(answers=[WrongTransaction(1, [0xBAD])], close=False)
@example(answers=[Short(8, [0xBAD])], close=False)
@example(answers=[WrongFunction(4, [0xBAD])], close=False)
@example(answers=[Oversized(0xFFFF, [0xBAD])], close=False)
@example(answers=[Garbage(b"")], close=True)
@given(answers=st.lists(ANSWERS, min_size=1, max_size=2), close=st.booleans())
def test_any_bad_answer_is_a_counted_error_and_polling_goes_on(
    answers: list[Answer], close: bool
) -> None:
    asyncio.run(poll_through(answers, close))
