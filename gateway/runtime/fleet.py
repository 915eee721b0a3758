"""All device poll loops of the gateway: start, stop, and route client writes and register
reads to them."""

from __future__ import annotations

import asyncio
import logging

from drivers.base import Table
from drivers.registry import Registry
from gateway.config.model import DeviceConfig
from gateway.core.clock import Clock
from gateway.core.sample import Value
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.runtime.field_driver import FieldDriver
from gateway.runtime.poller import DevicePoller, PollerOptions, SampleSink, StatusSink

logger = logging.getLogger(__name__)


class UnknownDevice(KeyError):
    """No poll loop runs for that device name (not configured, or disabled)."""

    def __str__(self) -> str:
        # KeyError shows its argument as a repr; this one is a sentence.
        return str(self.args[0])


class DeviceFleet:
    """One supervised poll task per enabled device, inside the caller's TaskGroup; each
    device polled by the driver `drivers` names for its URL's scheme."""

    def __init__(
        self,
        drivers: Registry,
        sink: SampleSink,
        status_sink: StatusSink,
        clock: Clock | None = None,
        options: PollerOptions | None = None,
    ) -> None:
        self._drivers = drivers
        self._sink = sink
        self._status_sink = status_sink
        self._clock = clock
        self._options = options
        self._pollers: dict[str, DevicePoller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def pollers(self) -> dict[str, DevicePoller]:
        return dict(self._pollers)

    def start(self, group: asyncio.TaskGroup, device: DeviceConfig) -> None:
        """Start polling `device`; its loop runs until `stop` or the group ends."""
        if device.name in self._tasks:
            raise ValueError(f"device {device.name!r} is already running")
        if not device.enabled:
            logger.info("%s: disabled in the configuration; not polled", device.name)
            return
        driver = FieldDriver(self._drivers.driver_for(device.url))
        poller = DevicePoller(
            device, driver, self._sink, self._status_sink, self._clock, self._options
        )
        self._pollers[device.name] = poller
        self._tasks[device.name] = group.create_task(poller.run(), name=f"poll:{device.name}")
        logger.info("%s: polling %d tags in %d reads every %.3g s", device.name,
                    len(device.tags), len(poller.blocks), device.poll_interval)

    async def stop(self, name: str) -> None:
        """Stop one device's loop and wait until it has let go of its connection."""
        task = self._tasks.pop(name, None)
        self._pollers.pop(name, None)
        if task is None:
            return
        task.cancel()
        # The task is cancelled on purpose; any other outcome is already logged by it.
        await asyncio.wait([task])

    async def write(self, key: str, value: Value) -> None:
        """Write `<device>.<tag>`; raises WriteFailure."""
        device, _, tag = key.partition(".")
        poller = self._pollers.get(device)
        if poller is None or not tag:
            raise WriteFailure(WriteFailureReason.UNKNOWN_TAG, key)
        await poller.write(tag, value)

    async def read_registers(
        self, device: str, table: Table, address: int, count: int
    ) -> list[int]:
        """Read registers of `device` through its poll loop (DevicePoller.read_registers);
        raises UnknownDevice when no loop runs for it."""
        poller = self._pollers.get(device)
        if poller is None:
            raise UnknownDevice(f"device {device!r} is not polled")
        return await poller.read_registers(table, address, count)
