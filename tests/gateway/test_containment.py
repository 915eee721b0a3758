"""One bad input never takes the gateway down (issue #17): a device, a sink or a background
task that fails is contained, counted in /metrics and shown, and the rest keeps running."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asyncua import ua

from drivers.base import Table
from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from gateway.page.facade import GatewayWebFacade
from gateway.page.views import health
from tests.fixtures.gateway import WAIT_S, has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.prometheus import metric_value

GOOD = ua.StatusCodes.Good
TAG = {"name": "a", "table": "holding", "address": 0, "type": "uint16"}


def config_for(url: str, *bad_urls: str) -> GatewayConfig:
    """Device `good` at `url` and `bad0`, `bad1`, ... at `bad_urls`, which are set after
    validation: the validator refuses them (issue #17), but a gateway must survive a
    device URL it cannot use all the same."""
    config = GatewayConfig.model_validate({
        "gateway": {"name": "plant"},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "devices": [{"name": "good", "url": url, "poll_interval": 0.1, "timeout": 0.5,
                     "tags": [TAG]}],
    })
    good = config.devices[0]
    bad = [good.model_copy(update={"name": f"bad{i}", "url": bad_url})
           for i, bad_url in enumerate(bad_urls)]
    return config.model_copy(update={"devices": [good, *bad]})


async def test_device_urls_that_cannot_be_resolved_leave_the_other_devices_polling(
    modbus_tcp_server: PymodbusServer,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [7])
    config = config_for(server.url, "modbus-tcp://plc1..plant.local", "modbus-tcp://plc1\x00x")
    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        for bad in ("bad0", "bad1"):
            await wait_value(node(f"{bad}.a"), has_status(ua.StatusCodes.BadCommunicationError),
                             f"{bad}.a Bad")
            # Refused when the URL is parsed or when the host is looked up, whichever is
            # first: both name the host.
            error = await node(f"{bad}.Status.LastError").read_value()
            assert "plc1" in error, error
        await wait_value(node("good.a"), has_status(GOOD), "good.a Good")
        server.set(Table.HOLDING, 0, [8])
        await wait_value(node("good.a"), lambda dv: dv.Value.Value == 8, "good.a polled on")
        metrics = GatewayWebFacade(gateway.running).metrics()
        assert metric_value(metrics, "uvelka_device_errors_total", device="good") == 0
        for bad in ("bad0", "bad1"):
            assert metric_value(metrics, "uvelka_device_errors_total", device=bad) != 0
            assert metric_value(metrics, "uvelka_device_connected", device=bad) == 0


def broken(*args: object) -> None:
    raise RuntimeError("a bug in this part")


def logged_once(caplog: pytest.LogCaptureFixture) -> str:
    """The one ERROR logged (with its traceback) however often the part failed."""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].exc_info is not None
    return errors[0].getMessage()


def failing_lines(gateway: Gateway) -> list[str]:
    return [line for line in health(gateway.running)["problems"] if "failing" in line]


async def test_a_failing_sink_stops_neither_polling_nor_the_other_sinks(
    modbus_tcp_server: PymodbusServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [1])
    async with running(config_for(server.url)) as (gateway, client):
        node = node_of(gateway, client)("good.a")
        await wait_value(node, lambda dv: dv.Value.Value == 1, "the first value")
        # The first sink of the fan-out.
        monkeypatch.setattr(gateway.running.cache, "update", broken)
        for value in (2, 3):
            server.set(Table.HOLDING, 0, [value])
            await wait_value(node, lambda dv, v=value: dv.Value.Value == v, f"value {value}")
        assert gateway.running.cache.latest("good.a").value == 1  # type: ignore[union-attr]
        assert "sink cache failed: RuntimeError: a bug in this part" in logged_once(caplog)
        metrics = GatewayWebFacade(gateway.running).metrics()
        count = gateway.running.fanout.failures.parts["cache"].failures
        assert count >= 2
        assert metric_value(metrics, "uvelka_sink_failures_total", sink="cache") == count
        assert failing_lines(gateway) == ["sink cache failing: RuntimeError: a bug in this part"]

        monkeypatch.undo()
        server.set(Table.HOLDING, 0, [4])
        await wait_value(node, lambda dv: dv.Value.Value == 4, "value 4")
        await wait_until(lambda: not failing_lines(gateway), WAIT_S, "the sink working again")
        assert gateway.running.cache.latest("good.a").value == 4  # type: ignore[union-attr]


async def test_a_crashing_background_task_is_restarted_and_the_rest_keeps_running(
    modbus_tcp_server: PymodbusServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = modbus_tcp_server
    server.set(Table.HOLDING, 0, [1])
    async with running(config_for(server.url)) as (gateway, client):
        node = node_of(gateway, client)("good.a")
        watcher = gateway.running.watcher
        assert watcher is not None
        monkeypatch.setattr(watcher, "check", broken_async)
        for crashes in (1, 2):
            async with asyncio.timeout(WAIT_S):  # answered, though the check crashed
                await watcher.checked()
            await wait_until(lambda c=crashes: crash_count(gateway) == c, WAIT_S,
                             f"crash {crashes} counted")
            server.set(Table.HOLDING, 0, [1 + crashes])
            await wait_value(node, lambda dv, v=1 + crashes: dv.Value.Value == v, "polled on")
        assert "task model-watch failed: RuntimeError" in logged_once(caplog)
        metrics = GatewayWebFacade(gateway.running).metrics()
        assert metric_value(metrics, "uvelka_task_failures_total", task="model-watch") == 2
        assert failing_lines(gateway) == [
            "task model-watch failing: RuntimeError: a bug in this part"
        ]
        health_status = health(gateway.running)["status"]
        assert health_status == "ok"  # the gateway serves: no reason to restart it

        monkeypatch.undo()
        checks = watcher.checks
        async with asyncio.timeout(WAIT_S):  # restarted after its backoff
            await watcher.checked()
        assert watcher.checks > checks


async def broken_async(*args: object) -> None:
    broken(*args)


def crash_count(gateway: Gateway) -> int:
    health = gateway.running.supervisor.failures.parts.get("model-watch")
    return 0 if health is None else health.failures
