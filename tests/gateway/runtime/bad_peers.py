"""Misbehaving Modbus TCP peers, raw asyncio servers served from their own thread.

A real device that misbehaves does so on its own CPU: a peer that floods or stalls must
not do its work on the event loop that polls, or the test would measure the peer and not
the gateway. So the peers run on a second event loop in a thread, each on its own port
of 127.0.0.1, and `BadPeers` stops them (connections included) when it closes.

Each behaviour is a connection handler: the ways the issue #14 fault suite names, and
one that answers well and then falls silent (for the Uncertain "last usable value").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any

from tests.fixtures.modbus import HOST
from tests.gateway.runtime.test_modbus_answers_fuzz import (
    Oversized,
    Short,
    WrongFunction,
    WrongTransaction,
    frame,
    registers_pdu,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

BAD_WORD = 0xBAD  # what garbage frames carry: never a good device's value
LATE_WORD = 0x1A7E  # what the slow peer answers, too late
FLOOD_CHUNK = 16 * 1024
FLOOD_PERIOD_S = 0.01  # ~1.6 MB/s of bytes nobody asked for
_START_S = 10.0


async def read_request(reader: asyncio.StreamReader) -> tuple[int, int, int]:
    """The next MBAP request: its transaction id, unit and register count."""
    tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
    pdu = await reader.readexactly(length - 1)
    return tid, unit, struct.unpack(">H", pdu[3:5])[0]


def answer(tid: int, unit: int, count: int, word: int) -> bytes:
    """A correct answer to a read of holding registers: `count` times `word`."""
    return frame(tid, unit, registers_pdu([word] * count))


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and reads every request, answers none."""
    while await reader.read(4096):
        pass


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Closes each connection as soon as it is accepted."""
    writer.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with a wrong transaction id, a short frame, a wrong function
    code or an oversized MBAP length, in turn."""
    kinds = itertools.cycle(
        [
            WrongTransaction(1, [BAD_WORD]),
            Short(8, [BAD_WORD]),
            WrongFunction(4, [BAD_WORD]),
            Oversized(0xFFFF, [BAD_WORD]),
        ]
    )
    while True:
        tid, unit, count = await read_request(reader)
        writer.write(next(kinds).answer(tid, unit, count))
        await writer.drain()


def slow(delay_s: float) -> Handler:
    """Answers every request correctly, but `delay_s` late."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            tid, unit, count = await read_request(reader)
            await asyncio.sleep(delay_s)
            writer.write(answer(tid, unit, count, LATE_WORD))
            await writer.drain()

    return serve


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends bytes nobody asked for, without end, and never answers."""
    chunk = bytes(range(256)) * (FLOOD_CHUNK // 256)
    while True:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(FLOOD_PERIOD_S)


def good_then_silent(word: int, answers: int) -> Handler:
    """Answers the first `answers` requests (over all connections) with `word`, then none."""
    left = [answers]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            tid, unit, count = await read_request(reader)
            if left[0] > 0:
                left[0] -= 1
                writer.write(answer(tid, unit, count, word))
                await writer.drain()

    return serve


def closes_first(connections: int, word: int) -> Handler:
    """Closes the first `connections` connections on accept (a device with every
    connection slot taken, or still booting), then answers every read with `word`."""
    left = [connections]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if left[0] > 0:
            left[0] -= 1
            writer.close()
            return
        while True:
            tid, unit, count = await read_request(reader)
            writer.write(answer(tid, unit, count, word))
            await writer.drain()

    return serve


class BadPeers:
    """Serves `behaviours` (name -> handler) on their own loop; `url(name)` finds one."""

    def __init__(self, behaviours: Mapping[str, Handler]) -> None:
        self._behaviours = dict(behaviours)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bad-peers")
        self._servers: dict[str, asyncio.Server] = {}
        self._connections: set[asyncio.Task[None]] = set()

    def url(self, name: str) -> str:
        port = self._servers[name].sockets[0].getsockname()[1]
        return f"modbus-tcp://{HOST}:{port}"

    async def __aenter__(self) -> BadPeers:
        self._thread.start()
        await self._call(self._start())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, _START_S)
            self._loop.close()

    async def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run `coroutine` on the peers' loop and wait for it from the test's."""
        done = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        await asyncio.wait_for(asyncio.wrap_future(done), _START_S)

    async def _start(self) -> None:
        for name, handler in self._behaviours.items():
            self._servers[name] = await asyncio.start_server(self._tracked(handler), HOST, 0)

    def _tracked(self, handler: Handler) -> Handler:
        """`handler` in a task of its own that closing cancels (asyncio's stream server
        reports a cancelled connection task as an error), its errors expected: the client
        hangs up whenever it likes."""

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.create_task(handler(reader, writer))
            self._connections.add(task)
            try:
                with contextlib.suppress(
                    ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
                ):
                    await task
            finally:
                self._connections.discard(task)
                writer.close()

        return serve

    async def _stop(self) -> None:
        for server in self._servers.values():
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers.values():
            await server.wait_closed()
