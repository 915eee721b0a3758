"""A device loop contains its own unexpected exceptions (issue #17): the device's tags go
Bad, its status shows the error, it is logged once and retried with backoff."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from drivers.base import Connection, ReadBlock, Table, Tag
from drivers.modbus import DRIVER as MODBUS
from gateway.config.model import DeviceConfig
from gateway.core.quality import Quality
from gateway.page.metrics import device_metrics
from gateway.runtime.field_driver import FieldDriver
from gateway.runtime.poller import PollerOptions
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.prometheus import metric_value
from tests.gateway.runtime.test_poller import Recorder, make_device, polling, u16


class BuggyConnection:
    """A real Modbus connection whose reads raise an unexpected error while `broken`."""

    def __init__(self, conn: Connection, driver: BuggyDriver) -> None:
        self._conn = conn
        self._driver = driver

    async def read(self, block: ReadBlock) -> Sequence[int] | Sequence[bool]:
        if self._driver.broken:
            self._driver.raised += 1
            raise RuntimeError("a bug in the driver")
        return await self._conn.read(block)

    async def write(self, tag: Tag, raw: Sequence[int] | bool) -> None:
        await self._conn.write(tag, raw)


class BuggyDriver(FieldDriver):
    """The Modbus field driver, with a bug that the test switches on and off."""

    def __init__(self) -> None:
        super().__init__(MODBUS)
        self.broken = True
        self.raised = 0

    @asynccontextmanager
    async def _buggy(self, device: DeviceConfig) -> AsyncIterator[Connection]:
        async with super().open(device) as conn:
            yield BuggyConnection(conn, self)

    def open(self, device: DeviceConfig) -> AbstractAsyncContextManager[Connection]:
        return self._buggy(device)


async def test_an_unexpected_error_marks_the_device_bad_logs_once_and_recovers(
    modbus_tcp_server: PymodbusServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.runtime.poller")
    modbus_tcp_server.set(Table.HOLDING, 0, [42])
    recorder = Recorder()
    driver = BuggyDriver()
    device = make_device(modbus_tcp_server.url, [u16("a", 0)])
    async with polling(device, recorder, PollerOptions(backoff_max_s=0.2), driver) as poller:
        await recorder.wait_quality("dev.a", Quality.COMM_ERROR)
        await recorder.wait(lambda: driver.raised >= 3, "three failed attempts")
        status = recorder.statuses[-1]
        assert not status.connected
        assert "RuntimeError: a bug in the driver" in status.last_error
        assert status.unexpected_errors >= 2
        metric = "uvelka_device_unexpected_errors_total"
        assert metric_value(device_metrics([status]), metric, device="dev") == (
            status.unexpected_errors)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]  # once, not per retry
        assert errors[0].exc_info is not None
        assert "dev" in errors[0].getMessage()

        driver.broken = False
        sample = await recorder.wait_quality("dev.a", Quality.GOOD)
        assert sample.value == 42
        await recorder.wait(lambda: recorder.statuses[-1].connected, "the device connected")
        assert poller.status().last_error == status.last_error  # kept for the page
        assert any("polling again" in r.getMessage() for r in caplog.records
                   if r.levelno == logging.INFO)
