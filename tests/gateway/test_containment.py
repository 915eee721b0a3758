"""One bad input never takes the gateway down (issue #17): a device, a sink or a background
task that fails is contained, counted in /metrics and shown, and the rest keeps running."""

from __future__ import annotations

from asyncua import ua

from drivers.base import Table
from gateway.config.model import GatewayConfig
from gateway.web_facade import GatewayWebFacade
from tests.fixtures.gateway import has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT

GOOD = ua.StatusCodes.Good
TAG = {"name": "a", "table": "holding", "address": 0, "type": "uint16"}


def config_for(url: str, *bad_urls: str) -> GatewayConfig:
    """Device `good` at `url` and `bad0`, `bad1`, ... at `bad_urls`, which are set after
    validation: the validator refuses them (issue #17), but a gateway must survive a
    device URL it cannot use all the same."""
    config = GatewayConfig.model_validate({
        "gateway": {"name": "plant"},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test"},
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
            error = await node(f"{bad}.Status.LastError").read_value()
            assert "host name" in error, error
        await wait_value(node("good.a"), has_status(GOOD), "good.a Good")
        server.set(Table.HOLDING, 0, [8])
        await wait_value(node("good.a"), lambda dv: dv.Value.Value == 8, "good.a polled on")
        metrics = GatewayWebFacade(gateway).metrics()
        assert 'uvelka_device_errors_total{device="good"} 0' in metrics
        for bad in ("bad0", "bad1"):
            assert f'uvelka_device_errors_total{{device="{bad}"}} 0' not in metrics
            assert f'uvelka_device_connected{{device="{bad}"}} 0.0' in metrics
