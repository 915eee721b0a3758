"""Misbehaving Modbus peers next to good devices (issue #14, the fault and fuzz suite).

Bad peers (raw asyncio servers on their own thread, `bad_peers.py`) accept and never
answer, answer garbage, close right after accept, answer late, flood, or answer and then
fall silent; good devices are a real pymodbus server and a real pyModbusTCP server. Every
device has its own poll loop, all on one event loop, as the gateway runs them. The good
devices must keep their poll times, the bad ones must show the quality style.md gives
them, and polling bad peers cycle after cycle must not grow memory.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import statistics
import tracemalloc
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest

from drivers.base import Table
from drivers.modbus import DRIVER as MODBUS
from gateway.config.model import DeviceConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.status import DeviceStatus
from gateway.opcua.status import status_code
from gateway.runtime.field_driver import FieldDriver
from gateway.runtime.poller import DevicePoller, PollerOptions
from tests.fixtures.modbus import PeerServer, PymodbusServer, wait_until
from tests.gateway.runtime.bad_peers import (
    BAD_WORD,
    LATE_WORD,
    BadPeers,
    Handler,
    close_at_once,
    flood,
    garbage,
    good_then_silent,
    silent,
    slow,
)
from tests.gateway.runtime.test_poller import make_device, u16

POLL_S = 0.1
# A bad device's timeout: far above any jitter the good devices may see on a loaded
# machine, so a good device held up by a bad one shows as a gap of at least this much.
BAD_TIMEOUT_S = 2.0
GOOD_GAP_LIMIT_S = 1.0
WINDOW_S = 4.0
WAIT_S = 20.0
PYMODBUS_WORD, PEER_WORD, FADING_WORD = 11, 22, 33
STALE_AFTER_S = 1.0


class Watch:
    """Every device's sinks: the time each poll cycle ended, the latest status, every
    change of quality and every Good value of each tag.

    It keeps per cycle only a float, and per sample only what changed, so that the
    memory test measures the gateway and not this recorder.
    """

    def __init__(self) -> None:
        self.cycle_ends: defaultdict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, DeviceStatus] = {}
        self.qualities: defaultdict[str, list[Quality]] = defaultdict(list)
        self.good_values: defaultdict[str, set[object]] = defaultdict(set)
        self._loop = asyncio.get_running_loop()

    def publish(self, samples: Sequence[Sample]) -> None:
        for sample in samples:
            seen = self.qualities[sample.key]
            if not seen or seen[-1] is not sample.quality:
                seen.append(sample.quality)
            if sample.quality is Quality.GOOD:
                self.good_values[sample.key].add(sample.value)

    def status(self, status: DeviceStatus) -> None:
        self.cycle_ends[status.device].append(self._loop.time())
        self.statuses[status.device] = status

    def errors(self, device: str) -> int:
        status = self.statuses.get(device)
        return 0 if status is None else status.error_count


@dataclass(frozen=True)
class Bad:
    """A bad peer and how its device is configured."""

    handler: Handler
    timeout_s: float = BAD_TIMEOUT_S
    stale_after_s: float = 0.0


def bad_peers(timeout_s: float) -> dict[str, Bad]:
    return {
        "silent": Bad(silent, timeout_s),
        "closes": Bad(close_at_once, timeout_s),
        "garbage": Bad(garbage, timeout_s),
        "slow": Bad(slow(1.5 * timeout_s), timeout_s),
        "flood": Bad(flood, timeout_s),
        # Kept usable past the first timeout: the value is that old when the link fails.
        "fading": Bad(good_then_silent(FADING_WORD, 3), timeout_s, timeout_s + STALE_AFTER_S),
    }


@asynccontextmanager
async def plant(
    good: dict[str, str], bad: dict[str, Bad], options: PollerOptions
) -> AsyncIterator[Watch]:
    """Poll every device (good: name -> URL) in its own loop until the block ends."""
    watch = Watch()
    async with AsyncExitStack() as stack:
        peers = await stack.enter_async_context(
            BadPeers({name: item.handler for name, item in bad.items()})
        )
        devices = [device(name, url, 1.0) for name, url in good.items()] + [
            device(name, peers.url(name), item.timeout_s, item.stale_after_s)
            for name, item in bad.items()
        ]
        pollers = [
            DevicePoller(d, FieldDriver(MODBUS), watch.publish, watch.status, options=options)
            for d in devices
        ]
        tasks = [asyncio.create_task(p.run(), name=f"poll-{p.device.name}") for p in pollers]
        try:
            yield watch
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.result()  # surface a crash of a loop


def device(name: str, url: str, timeout_s: float, stale_after_s: float = 0.0) -> DeviceConfig:
    extra: dict[str, object] = {"name": name, "timeout": timeout_s, "poll_interval": POLL_S}
    if stale_after_s:
        extra["stale_after"] = stale_after_s
    return make_device(url, [u16("a", 0)], **extra)


@pytest.fixture
def good_devices(
    modbus_tcp_server: PymodbusServer, pymodbustcp_server: PeerServer
) -> dict[str, str]:
    modbus_tcp_server.set(Table.HOLDING, 0, [PYMODBUS_WORD])
    pymodbustcp_server.set(Table.HOLDING, 0, [PEER_WORD])
    return {"pymodbus": modbus_tcp_server.url, "pymodbustcp": pymodbustcp_server.url}


async def test_good_devices_keep_their_poll_times_and_bad_ones_show_their_fault(
    good_devices: dict[str, str],
) -> None:
    bad = bad_peers(BAD_TIMEOUT_S)
    async with plant(good_devices, bad, PollerOptions(backoff_max_s=1.0)) as watch:
        # Every bad device has failed at least twice: each of its faults is in play.
        await wait_until(
            lambda: all(watch.errors(name) >= 2 for name in bad),
            WAIT_S,
            "every bad device to fail twice",
        )
        began = asyncio.get_running_loop().time()
        await asyncio.sleep(WINDOW_S)  # the measured window: the devices run meanwhile
        ended = asyncio.get_running_loop().time()
        await wait_until(
            lambda: watch.qualities["fading.a"][-1:] == [Quality.COMM_ERROR],
            WAIT_S,
            "the fading device's value to go stale",
        )

    for name, word in (("pymodbus", PYMODBUS_WORD), ("pymodbustcp", PEER_WORD)):
        ends = [t for t in watch.cycle_ends[name] if began <= t <= ended]
        gaps = [b - a for a, b in zip(ends, ends[1:], strict=False)]
        # A poll a deadline: about WINDOW_S / POLL_S cycles, never held up by a bad peer.
        assert len(ends) >= 0.8 * WINDOW_S / POLL_S, (name, len(ends))
        assert statistics.median(gaps) == pytest.approx(POLL_S, abs=0.02), (name, gaps)
        assert max(gaps) < GOOD_GAP_LIMIT_S, (name, max(gaps))
        status = watch.statuses[name]
        assert status.connected, status
        assert status.error_count == 0, status
        assert watch.qualities[f"{name}.a"] == [Quality.GOOD]
        assert watch.good_values[f"{name}.a"] == {word}

    for name in ("silent", "closes", "garbage", "slow", "flood"):
        status = watch.statuses[name]
        assert not status.connected, status
        assert status.unexpected_errors == 0, status
        # Never a value: waiting for the first read, then Bad (stale_after is 0).
        assert watch.qualities[f"{name}.a"] == [Quality.COMM_ERROR], name
        assert name not in {key.split(".")[0] for key in watch.good_values}, watch.good_values
        assert status_code(Quality.COMM_ERROR).name == "BadCommunicationError"
    assert "no answer within 2 s" in watch.statuses["silent"].last_error
    assert "no answer within 2 s" in watch.statuses["slow"].last_error  # the late answers
    assert "no answer within 2 s" in watch.statuses["flood"].last_error
    assert "connection lost" in watch.statuses["closes"].last_error
    assert watch.statuses["garbage"].error_count >= 2

    # Good, then Uncertain with the last value kept for stale_after, then Bad.
    assert watch.qualities["fading.a"] == [
        Quality.GOOD,
        Quality.LAST_USABLE,
        Quality.COMM_ERROR,
    ]
    assert watch.good_values["fading.a"] == {FADING_WORD}
    assert status_code(Quality.LAST_USABLE).name == "UncertainLastUsableValue"
    assert BAD_WORD not in set().union(*watch.good_values.values())
    assert LATE_WORD not in set().union(*watch.good_values.values())


# Failures of each bad device between the two snapshots (600 in all): what is in flight
# when a snapshot is taken (a future, a timer, a frame) varies by up to ~15 KiB, so the
# bound catches a leak from about 50 bytes per failed request up (an exception kept with
# its traceback is ~1 KiB; one kept buffer or task, hundreds of bytes).
MEMORY_CYCLES = 100
MEMORY_BOUND_KIB = 32
MEMORY_TIMEOUT_S = 0.1
MEMORY_WAIT_S = 120.0  # tracemalloc slows every allocation down several times
_FRAMES = 8  # enough to name the caller; each frame kept costs on every allocation
# Allocations made on behalf of the gateway or pymodbus, wherever in the call stack: a
# future, a timer or a buffer they asked asyncio for counts, the read buffers of the peers'
# own loop and of asyncio's transports do not (pymodbus keeps the last 20 of those for its
# debug dumps: bounded, but as large as the flood's chunks happen to be). Left out: this
# test's recorder, the log records pytest keeps, and the first snapshot itself.
_OURS_AND_PYMODBUS = [
    *(
        tracemalloc.Filter(True, pattern, all_frames=True)
        for pattern in ("*/drivers/*", "*/gateway/*", "*/pymodbus/*")
    ),
    *(
        tracemalloc.Filter(False, path, all_frames=True)
        for path in (__file__, logging.__file__, tracemalloc.__file__)
    ),
]


@pytest.mark.timeout(240)
async def test_memory_stays_flat_while_bad_peers_fail_cycle_after_cycle(
    good_devices: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # As `uvelka run` has it (gateway/__main__.py): pymodbus's ERROR lines carry hex dumps
    # of its last 20 frames, which a log capture would keep (and the gateway does not log).
    caplog.set_level(logging.CRITICAL, logger="pymodbus")
    bad = bad_peers(MEMORY_TIMEOUT_S)
    options = PollerOptions(backoff_max_s=MEMORY_TIMEOUT_S)
    tracemalloc.start(_FRAMES)
    try:
        async with plant(good_devices, bad, options) as watch:
            await wait_until(
                lambda: all(watch.errors(name) >= 5 for name in bad),
                MEMORY_WAIT_S,
                "a warm-up of failures",
            )
            before_errors = {name: watch.errors(name) for name in bad}
            gc.collect()
            before = tracemalloc.take_snapshot().filter_traces(_OURS_AND_PYMODBUS)
            await wait_until(
                lambda: all(
                    watch.errors(name) >= before_errors[name] + MEMORY_CYCLES for name in bad
                ),
                MEMORY_WAIT_S,
                f"{MEMORY_CYCLES} more failures of every bad device",
            )
            gc.collect()
            after = tracemalloc.take_snapshot().filter_traces(_OURS_AND_PYMODBUS)
    finally:
        tracemalloc.stop()
    growth = sorted(after.compare_to(before, "traceback"), key=lambda d: -d.size_diff)
    grown = sum(d.size_diff for d in growth)
    top = "\n".join(str(line) for d in growth[:5] for line in d.traceback.format()[-6:])
    assert grown < MEMORY_BOUND_KIB * 1024, f"grew {grown / 1024:.1f} KiB; largest:\n{top}"
