"""A full disk under data_dir stops nothing (issue #17), on a real full filesystem.

The gateway's data_dir is on a 2 MiB tmpfs (tests/fixtures/disk.py) that the tests fill:
polling and OPC UA go on, alarm events wait in memory and reach MES, in order and with
gap-free `seq`, once space returns; /metrics and the page's health say what is wrong; and
a start with the disk still full comes up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from drivers.base import Table
from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from gateway.page.views import health
from tests.fixtures.assets import words
from tests.fixtures.disk import SmallDisk
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto, Subscriber, SubscriberFactory
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.prometheus import metric_value

GATEWAY = "plant"
ALARMS = f"uvelka/{GATEWAY}/alarms/+"
WAIT_S = 15.0


def config_for(device: PymodbusServer, broker: Mosquitto, data_dir: Path) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": GATEWAY, "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "devices": [{
            "name": "pump1", "url": device.url, "poll_interval": 0.05,
            "tags": [{"name": "pressure", "table": "holding", "address": 0, "type": "float32"}],
        }],
        "alarms": [{
            "name": "pressure_high", "source": "pump1.pressure", "condition": "above",
            "limit": 10.0, "hysteresis": 1.0, "severity": 800,
        }],
        "assets": [],
        "mqtt": {"url": broker.url, "state_interval": 0.2},
        "history": {"flush_interval": 0.2},  # enabled, as by default
        "web": {"port": 0, "metrics_open": True},
    })


async def next_alarm(mes: Subscriber) -> dict[str, Any]:
    message = await mes.get(WAIT_S)
    data: dict[str, Any] = json.loads(message.payload)
    return data


async def metrics(gateway: Gateway) -> str:
    url = f"http://127.0.0.1:{gateway.running.web.port}/metrics"
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        assert response.status == 200
        return await response.text()


async def set_pressure(
    device: PymodbusServer, gateway: Gateway, client: Any, value: float
) -> None:
    """Write the pressure and wait until OPC UA serves it: polling goes on."""
    device.set(Table.HOLDING, 0, words(value))
    node = node_of(gateway, client)("pump1.pressure")
    await wait_value(node, lambda dv: dv.Value.Value == value, f"pressure {value} on OPC UA")


@pytest.fixture
def device(modbus_tcp_server: PymodbusServer) -> PymodbusServer:
    modbus_tcp_server.set(Table.HOLDING, 0, words(5.0))
    return modbus_tcp_server


@pytest.fixture(autouse=True)
def _admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", "correct horse battery")


async def test_alarms_wait_in_memory_while_the_disk_is_full_and_reach_mes_after(
    device: PymodbusServer,
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    small_disk: SmallDisk,
) -> None:
    mes = await subscribers(mosquitto, ALARMS)
    config = config_for(device, mosquitto, small_disk.path / "data")
    async with running(config) as (gateway, client):
        await set_pressure(device, gateway, client, 12.0)
        before = await next_alarm(mes)
        assert before["kind"] == "activated"

        small_disk.fill()
        await set_pressure(device, gateway, client, 5.0)  # cleared
        await set_pressure(device, gateway, client, 13.0)  # activated
        await set_pressure(device, gateway, client, 4.0)  # cleared
        bridge = gateway.running.bridge
        assert bridge is not None
        await wait_until(lambda: bridge.stats.held == 3, WAIT_S, "3 alarms held in memory")
        # Every writer meets the full disk (history, asset states, alarm states, the
        # outbox's deletions) and the gateway still polls and serves: the process died
        # ~18 s into a full disk before issue #17.
        polls = gateway.running.fleet.pollers["pump1"].poll_count
        await wait_until(
            lambda: gateway.running.fleet.pollers["pump1"].poll_count > polls + 40,
            WAIT_S, "40 more polls on the full disk")
        await set_pressure(device, gateway, client, 4.5)
        text = await metrics(gateway)
        assert metric_value(text, "uvelka_storage_degraded", store="outbox") == 1
        assert metric_value(text, "uvelka_storage_degraded", store="alarm states") == 1
        assert metric_value(text, "uvelka_storage_errors_total", store="outbox") >= 1
        assert metric_value(text, "uvelka_outbox_held_alarms") == 3
        [line] = health(gateway.running)["problems"]
        assert line.startswith(
            f"disk full under {small_disk.path / 'data'}: outbox holding 3 alarms in memory; "
            "not saved: alarm states"), line
        assert mes.messages.empty()

        small_disk.free()
        held = [await next_alarm(mes) for _ in range(3)]
        assert [event["kind"] for event in held] == ["cleared", "activated", "cleared"]
        assert [event["seq"] for event in held] == [before["seq"] + n for n in (1, 2, 3)]
        await wait_until(lambda: not health(gateway.running)["problems"], WAIT_S,
                         "the health without problems once space returned")
        await set_pressure(device, gateway, client, 14.0)
        after = await next_alarm(mes)
        assert (after["kind"], after["seq"]) == ("activated", before["seq"] + 4)


@pytest.mark.parametrize("earlier_run", [True, False], ids=["files-exist", "empty-data-dir"])
async def test_a_start_with_the_disk_full_comes_up(
    device: PymodbusServer,
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    small_disk: SmallDisk,
    earlier_run: bool,
) -> None:
    mes = await subscribers(mosquitto, ALARMS)
    config = config_for(device, mosquitto, small_disk.path / "data")
    last_seq = 0
    if earlier_run:
        async with running(config) as (gateway, client):
            await set_pressure(device, gateway, client, 12.0)
            last_seq = (await next_alarm(mes))["seq"]
            await set_pressure(device, gateway, client, 5.0)
            last_seq = (await next_alarm(mes))["seq"]

    small_disk.fill()
    async with running(config) as (gateway, client):
        await set_pressure(device, gateway, client, 12.5)  # polling and OPC UA serve
        bridge = gateway.running.bridge
        await wait_until(lambda: bridge is not None and bridge.stats.held == 1, WAIT_S,
                         "the alarm held in memory")
        problems = health(gateway.running)["problems"]
        assert any(line.startswith(f"disk full under {small_disk.path / 'data'}")
                   for line in problems), problems
        small_disk.free()
        event = await next_alarm(mes)
        assert (event["kind"], event["seq"]) == ("activated", last_seq + 1)
