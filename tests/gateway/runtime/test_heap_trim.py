"""The heap trimmer gives freed C heap memory back to the system (issue #14)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
from pathlib import Path

from gateway.runtime.heap_trim import heap_trimmer, trim_heap
from tests.fixtures.modbus import wait_until

BLOCK = 64 * 1024  # under glibc's smallest mmap threshold: the blocks come from the heap
BLOCKS = 640  # 40 MiB
MIB = 2**20


def _rss_anon() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free.restype = None
    return libc


async def test_the_trimmer_gives_freed_heap_memory_back() -> None:
    assert heap_trimmer() is not None, "the tests run on glibc, which has malloc_trim"
    libc = _libc()
    blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
    assert all(blocks)
    for block in blocks:
        ctypes.memset(block, 1, BLOCK)  # resident, not only reserved
    # Freed blocks below a live one: free() keeps them, as the gateway's heap kept the
    # space its transient buffers had used.
    pin = libc.malloc(BLOCK)
    try:
        for block in blocks:
            libc.free(block)
        held = _rss_anon()
        task = asyncio.create_task(trim_heap(interval_s=0.05))
        try:
            await wait_until(lambda: _rss_anon() < held - 30 * MIB, 10.0,
                             "the freed 40 MiB given back to the system")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        libc.free(pin)
