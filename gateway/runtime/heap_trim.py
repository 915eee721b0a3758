"""Giving the C heap's free memory back to the system now and then (issue #14).

The gateway's RSS crept up by ~1 MiB/h in the 2-hour soak (bench/README.md, "bench/soak.py")
with nothing live growing: glibc's `mallinfo2` showed the bytes in use flat (57.0 MiB over
minutes 1-8 of a soak) while its free bytes grew (6.5 -> 10.3 MiB), and so did the RSS;
Python's objects (tracemalloc, `sys.getallocatedblocks`) and SQLite's memory
(`sqlite3_memory_used`, 2.6 MiB) stayed flat. Free chunks between live ones, left by
transient buffers (OPC UA publish responses, socket buffers, a reloaded model), are kept by
glibc: `free` returns memory only from the top of a heap. `malloc_trim(0)` gives back every
free page inside the heaps too; called once on a soaked gateway it took the RSS from 217.0
to 211.9 MiB, below the first minute's 214.1.

Where the C library has no `malloc_trim` (musl, macOS) nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Often enough that the free pages never add up to much; each trim takes a few ms in a
# thread (it holds each malloc arena's lock meanwhile, not the GIL).
TRIM_EVERY_S = 300.0


def heap_trimmer() -> Callable[[], int] | None:
    """The C library's `malloc_trim(0)` as a function, or None when there is none."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except AttributeError:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


async def trim_heap(interval_s: float = TRIM_EVERY_S) -> None:
    """Every `interval_s`, give the C heap's free pages back to the system; returns at
    once where the C library cannot."""
    trim = heap_trimmer()
    if trim is None:
        logger.debug("no malloc_trim in this C library: the heap is not trimmed")
        return
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(trim)
