"""The device poll loop against a real pymodbus server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from drivers.base import Table, Unavailable
from drivers.modbus import DRIVER as MODBUS
from gateway.config.model import DeviceConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.status import DeviceStatus
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.runtime.field_driver import FieldDriver
from gateway.runtime.poller import DevicePoller, PollerOptions
from tests.fixtures.modbus import PymodbusServer, wait_until

POLL_S = 0.1
WAIT_S = 10.0


class Recorder:
    """The runtime's sinks: keeps every published sample and status."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.statuses: list[DeviceStatus] = []
        self._changed = asyncio.Event()

    def publish(self, samples: Sequence[Sample]) -> None:
        self.samples.extend(samples)
        self._changed.set()

    def status(self, status: DeviceStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    def latest(self, key: str) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.key == key), None)

    async def wait(self, predicate: Callable[[], bool], what: str) -> None:
        try:
            async with asyncio.timeout(WAIT_S):
                while not predicate():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; last samples: {self.samples[-5:]}")

    async def wait_quality(self, key: str, quality: Quality) -> Sample:
        await self.wait(
            lambda: (s := self.latest(key)) is not None and s.quality is quality,
            f"{key} to become {quality.name}",
        )
        sample = self.latest(key)
        assert sample is not None
        return sample


def make_device(url: str, tags: list[dict[str, Any]], **extra: Any) -> DeviceConfig:
    settings = {"name": "dev", "url": url, "poll_interval": POLL_S, "timeout": 0.3}
    return DeviceConfig.model_validate({**settings, "tags": tags, **extra})


def u16(name: str, address: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "table": "holding", "address": address, "type": "uint16", **extra}


@asynccontextmanager
async def polling(
    device: DeviceConfig,
    recorder: Recorder,
    options: PollerOptions | None = None,
    driver: FieldDriver | None = None,
) -> AsyncIterator[DevicePoller]:
    poller = DevicePoller(
        device, driver or FieldDriver(MODBUS), recorder.publish, recorder.status, options=options
    )
    task = asyncio.create_task(poller.run())
    try:
        yield poller
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()  # surface a crash of the loop


async def test_values_are_published_once_per_change(modbus_tcp_server: PymodbusServer) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [11, 22])
    recorder = Recorder()
    device = make_device(server.url, [u16("a", 0), u16("b", 1)])
    async with polling(device, recorder) as poller:
        first = await recorder.wait_quality("dev.a", Quality.GOOD)
        assert first.value == 11
        await recorder.wait(lambda: poller.poll_count >= 3, "three polls")
        assert [s.value for s in recorder.samples if s.key == "dev.a"] == [11]
        server.set(Table.HOLDING, 0, [12])
        await recorder.wait(lambda: recorder.latest("dev.a").value == 12, "the new value")
        changed = recorder.latest("dev.a")
        assert changed.source_time > first.source_time
        assert [s.value for s in recorder.samples if s.key == "dev.b"] == [22]
        assert recorder.statuses[-1].connected


async def test_illegal_address_hole_costs_only_its_own_tag(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [1, 2, 3, 4, 5, 6])
    server.fault(Table.HOLDING, 3, 1, code=2)
    recorder = Recorder()
    device = make_device(server.url, [u16(f"t{i}", i) for i in range(6)])
    async with polling(device, recorder) as poller:
        assert len(poller.blocks) == 1
        hole = await recorder.wait_quality("dev.t3", Quality.CONFIG_ERROR)
        for i in (0, 1, 2, 4, 5):
            sample = await recorder.wait_quality(f"dev.t{i}", Quality.GOOD)
            assert sample.value == i + 1
        assert hole.value is None
        covered = {tag.key for block in poller.blocks for tag in block.tags}
        assert "dev.t3" not in covered
        assert all(block.start != 3 for block in poller.blocks)
        # Once refined, a cycle no longer asks for the hole.
        reads_before, polls_before = len(server.store.functions(1)), poller.poll_count
        await recorder.wait(lambda: poller.poll_count >= polls_before + 3, "three more polls")
        reads = len(server.store.functions(1)) - reads_before
        assert reads <= len(poller.blocks) * (poller.poll_count - polls_before + 1)


async def test_exception_answer_marks_only_its_block_device_failure(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [7])
    server.set(Table.INPUT, 0, [8])
    server.fault(Table.INPUT, 0, 1, code=4)
    recorder = Recorder()
    tags = [u16("ok", 0), {"name": "broken", "table": "input", "address": 0, "type": "uint16"}]
    async with polling(make_device(server.url, tags), recorder):
        await recorder.wait_quality("dev.broken", Quality.DEVICE_ERROR)
        assert (await recorder.wait_quality("dev.ok", Quality.GOOD)).value == 7
        await recorder.wait(lambda: recorder.statuses[-1].error_count >= 2, "errors counted")
        assert "exception" in recorder.statuses[-1].last_error.lower()


async def test_link_down_then_back_without_restart(modbus_tcp_server: PymodbusServer) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [5])
    recorder = Recorder()
    options = PollerOptions(backoff_max_s=0.5)
    async with polling(make_device(server.url, [u16("a", 0)]), recorder, options) as poller:
        await recorder.wait_quality("dev.a", Quality.GOOD)
        await server.stop()
        down = await recorder.wait_quality("dev.a", Quality.COMM_ERROR)
        assert not poller.connected
        assert not recorder.statuses[-1].connected
        await server.start()
        back = await recorder.wait_quality("dev.a", Quality.GOOD)
        assert back.value == 5
        assert back.source_time > down.source_time
        assert poller.connected


async def test_last_usable_value_until_stale_after(modbus_tcp_server: PymodbusServer) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [9])
    recorder = Recorder()
    device = make_device(server.url, [u16("a", 0)], stale_after=1.0)
    async with polling(device, recorder, PollerOptions(backoff_max_s=5.0)):
        await recorder.wait_quality("dev.a", Quality.GOOD)
        await server.stop()
        usable = await recorder.wait_quality("dev.a", Quality.LAST_USABLE)
        assert usable.value == 9
        stale = await recorder.wait_quality("dev.a", Quality.COMM_ERROR)
        elapsed = (stale.source_time - usable.source_time).total_seconds()
        assert 0.3 < elapsed < 3.0


async def test_writes_reach_the_device_and_fail_honestly(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 10, [0b1010_0000])
    tags = [
        u16("setpoint", 0, writable=True, scale=0.1),
        {"name": "level", "table": "holding", "address": 2, "type": "float32",
         "order": "CDAB", "writable": True},
        {"name": "flag", "table": "holding", "address": 10, "type": "bool", "bit": 1,
         "writable": True},
        u16("readonly", 5),
    ]
    recorder = Recorder()
    async with polling(make_device(server.url, tags), recorder) as poller:
        await poller.write("setpoint", 123.4)
        assert server.get(Table.HOLDING, 0) == [1234]
        await poller.write("level", 1.5)  # 0x3FC00000, low word first
        assert server.get(Table.HOLDING, 2, 2) == [0x0000, 0x3FC0]
        await poller.write("flag", True)
        assert server.get(Table.HOLDING, 10) == [0b1010_0010]  # other bits kept
        with pytest.raises(WriteFailure) as too_big:
            await poller.write("setpoint", 7000.0)  # 70000 raw does not fit a uint16
        assert too_big.value.reason is WriteFailureReason.OUT_OF_RANGE
        with pytest.raises(WriteFailure) as readonly:
            await poller.write("readonly", 1)
        assert readonly.value.reason is WriteFailureReason.NOT_WRITABLE
        with pytest.raises(WriteFailure) as wrong:
            await poller.write("level", "high")
        assert wrong.value.reason is WriteFailureReason.TYPE_MISMATCH
        await recorder.wait(
            lambda: (s := recorder.latest("dev.setpoint")) is not None and s.value == 123.4,
            "the written value polled back",
        )


async def test_write_to_a_dead_device_reports_a_comm_error(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    recorder = Recorder()
    device = make_device(server.url, [u16("a", 0, writable=True)])
    async with polling(device, recorder) as poller:
        await recorder.wait_quality("dev.a", Quality.GOOD)
        server.store.dead.add(1)
        with pytest.raises(WriteFailure) as failure:
            await poller.write("a", 3)
        assert failure.value.reason is WriteFailureReason.COMM_ERROR


async def test_slow_device_counts_overruns(modbus_tcp_server: PymodbusServer) -> None:
    server = modbus_tcp_server
    server.store.delay_s[1] = 0.25  # answers arrive after the next poll was due
    recorder = Recorder()
    device = make_device(server.url, [u16("a", 0)], timeout=1.0)
    async with polling(device, recorder) as poller:
        await recorder.wait(lambda: recorder.statuses and recorder.statuses[-1].overruns >= 2,
                            "overruns counted")
        assert poller.connected
        assert recorder.latest("dev.a").quality is Quality.GOOD


async def test_a_request_wakes_a_loop_waiting_for_its_next_poll(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    recorder = Recorder()
    device = make_device(server.url, [u16("a", 0, writable=True)], poll_interval=3600.0)
    async with polling(device, recorder) as poller:
        await recorder.wait_quality("dev.a", Quality.GOOD)
        # The next poll is an hour away: only the request itself can wake the loop.
        async with asyncio.timeout(WAIT_S):
            await poller.write("a", 7)
            assert await poller.read_registers(Table.HOLDING, 0, 1) == [7]
        await recorder.wait(lambda: recorder.latest("dev.a").value == 7, "the write polled back")


async def test_a_full_request_queue_refuses_at_once(modbus_tcp_server: PymodbusServer) -> None:
    server = modbus_tcp_server
    server.store.dead.add(1)  # never answers: the loop waits out its long timeout
    recorder = Recorder()
    device = make_device(
        server.url, [u16("a", 0, writable=True)], timeout=30.0, poll_interval=3600.0
    )
    async with polling(device, recorder, PollerOptions(request_queue_size=1)) as poller:
        await wait_until(lambda: server.store.functions(1) != [], WAIT_S, "the first poll")
        queued = asyncio.create_task(poller.write("a", 5))
        await asyncio.sleep(0)  # one step: the write is queued behind the stuck poll
        with pytest.raises(WriteFailure, match="too many requests pending") as refused:
            await poller.write("a", 6)
        assert refused.value.reason is WriteFailureReason.COMM_ERROR
        with pytest.raises(Unavailable, match="dev: too many requests pending"):
            await poller.read_registers(Table.HOLDING, 0, 1)
    with pytest.raises(WriteFailure, match="the device loop stopped"):
        await queued
