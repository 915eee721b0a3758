"""Alarms end to end: a Modbus value crosses its limit → OPC UA condition events and MQTT
alarm messages; acknowledged over MQTT or OPC UA, both see the same alarm move."""

from __future__ import annotations

import asyncio
import json
import signal
import struct
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.common.events import Event

from drivers.base import Table
from gateway.config.model import GatewayConfig
from gateway.runtime.poller import DevicePoller
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto, Subscriber, SubscriberFactory, free_port
from tests.fixtures.opcua import LOOPBACK_ENDPOINT, EventWatch
from tests.gateway.mqtt.support import schema

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 20.0
GATEWAY = "plant"
ALARM_TOPIC = f"uvelka/{GATEWAY}/alarms/pressure_high"
ACKNOWLEDGE = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)


def words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def config_for(device: PymodbusServer, broker: Mosquitto, data_dir: Path) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": GATEWAY, "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "devices": [{
            "name": "pump1", "url": device.url, "poll_interval": 0.1,
            "tags": [{"name": "pressure", "table": "holding", "address": 0, "type": "float32"}],
        }],
        "alarms": [{
            "name": "pressure_high", "source": "pump1.pressure", "condition": "above",
            "limit": 10.0, "hysteresis": 1.0, "severity": 800,
            "message": "Discharge pressure high",
        }],
        "mqtt": {"url": broker.url},
    })


def payload(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(message.payload)
    schema("alarm").validate(data)
    return data


async def next_alarm(subscriber: Subscriber) -> dict[str, Any]:
    message = await subscriber.get()
    assert (message.topic, message.qos, message.retain) == (ALARM_TOPIC, 1, False)
    return payload(message)


def states(event: Event) -> tuple[bool, bool]:
    return getattr(event, "ActiveState/Id"), getattr(event, "AckedState/Id")


async def acknowledge(client: Client, ns: int, event_id: bytes) -> ua.StatusCode:
    request = ua.CallMethodRequest(
        ObjectId=ua.NodeId("Alarms.pressure_high", ns),
        MethodId=ACKNOWLEDGE,
        InputArguments=[
            ua.Variant(event_id, ua.VariantType.ByteString),
            ua.Variant(ua.LocalizedText("valve opened"), ua.VariantType.LocalizedText),
        ],
    )
    [result] = await client.uaclient.call([request])
    return result.StatusCode


@pytest.fixture
def device(modbus_tcp_server: PymodbusServer) -> PymodbusServer:
    """The pump, its pressure normal."""
    modbus_tcp_server.set(Table.HOLDING, 0, words(5.0))
    return modbus_tcp_server


async def test_a_transition_reaches_scada_and_mes_and_either_acknowledges_it(
    device: PymodbusServer,
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    mes = await subscribers(mosquitto, f"uvelka/{GATEWAY}/alarms/+")
    async with running(config_for(device, mosquitto, tmp_path)) as (gateway, client):
        ns = gateway.running.server.namespace_index
        scada = await EventWatch.on(client, ua.ObjectIds.Server)

        device.set(Table.HOLDING, 0, words(12.5))
        activated = await scada.next()
        assert states(activated) == (True, False)
        assert activated.Severity == 800
        assert activated.Message == ua.LocalizedText("Discharge pressure high")
        first = await next_alarm(mes)
        assert first["id"] == str(uuid.UUID(bytes=activated.EventId))
        assert (first["active"], first["acked"], first["value"], first["quality"]) == (
            True, False, 12.5, "GOOD")
        assert (first["gateway"], first["alarm"], first["source"], first["limit"]) == (
            GATEWAY, "pressure_high", "pump1.pressure", 10.0)

        # MES acknowledges: SCADA sees the same alarm acknowledged, by MES's user.
        command = {"user": "mes-line2", "comment": "work order 4711", "id": first["id"]}
        await mes.publish(f"{ALARM_TOPIC}/ack", json.dumps(command).encode())
        acked = await scada.next()
        assert states(acked) == (True, True)
        assert acked.ClientUserId == "mes-line2"
        second = await next_alarm(mes)
        assert (second["seq"], second["kind"], second["acked"], second["user"]) == (
            first["seq"] + 1, "acknowledged", True, "mes-line2")

        # Inside the hysteresis band the alarm holds; below it, it clears.
        device.set(Table.HOLDING, 0, words(9.5))
        device.set(Table.HOLDING, 0, words(8.0))
        cleared = await scada.next()
        assert states(cleared) == (False, True)
        third = await next_alarm(mes)
        assert (third["kind"], third["active"], third["value"]) == ("cleared", False, 8.0)

        # Again, and this time SCADA acknowledges: MES gets the acknowledgement.
        device.set(Table.HOLDING, 0, words(11.0))
        again = await scada.next()
        fourth = await next_alarm(mes)
        assert fourth["kind"] == "activated"
        stale = await acknowledge(client, ns, activated.EventId)
        assert stale.value == ua.StatusCodes.BadEventIdUnknown
        assert (await acknowledge(client, ns, again.EventId)).is_good()
        assert states(await scada.next()) == (True, True)
        fifth = await next_alarm(mes)
        assert (fifth["kind"], fifth["acked"], fifth["user"], fifth["comment"]) == (
            "acknowledged", True, "anonymous", "valve opened")
        assert [m["seq"] for m in (first, second, third, fourth, fifth)] == list(
            range(first["seq"], first["seq"] + 5))


def polled_twice(poller: DevicePoller) -> Callable[[], bool]:
    target = poller.poll_count + 2
    return lambda: poller.poll_count >= target


async def test_a_value_that_chatters_inside_the_delay_raises_nothing(
    device: PymodbusServer,
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    config = config_for(device, mosquitto, tmp_path)
    (alarm,) = config.alarms
    config = config.model_copy(
        update={"alarms": [alarm.model_copy(update={"on_delay": 1.0})]}
    )
    mes = await subscribers(mosquitto, f"uvelka/{GATEWAY}/alarms/+")
    async with running(config) as (gateway, client):
        scada = await EventWatch.on(client, ua.ObjectIds.Server)
        hub = gateway.running.hub
        poller = gateway.running.fleet.pollers["pump1"]
        # Over the limit and back, each time for less than the on-delay, several times.
        for value in (12.0, 5.0) * 4:
            device.set(Table.HOLDING, 0, words(value))
            await wait_until(polled_twice(poller), 5.0, "two polls")
        assert hub.alarms["pressure_high"].active is False
        assert mes.messages.empty()
        # Held past the delay, it activates once.
        device.set(Table.HOLDING, 0, words(12.0))
        assert states(await scada.next()) == (True, False)
        assert (await next_alarm(mes))["kind"] == "activated"
        assert mes.messages.empty()


@asynccontextmanager
async def gateway_process(config: Path, log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`uvelka run -c config` as its own process, killed at the end if still running."""
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "run", "-c", str(config),
            cwd=REPO, stdout=stderr, stderr=stderr,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_alarms_queued_during_an_outage_survive_sigkill(
    device: PymodbusServer,
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/uvelka"
    config = tmp_path / "gateway.toml"
    config.write_text(f"""
[gateway]
name = "{GATEWAY}"
data_dir = "{tmp_path / 'var'}"

[opcua]
endpoint = "{endpoint}"
security = ["None"]
anonymous = true

[[devices]]
name = "pump1"
url = "{device.url}"
poll_interval = 0.1

  [[devices.tags]]
  name = "pressure"
  table = "holding"
  address = 0
  type = "float32"

[[alarms]]
name = "pressure_high"
source = "pump1.pressure"
condition = "above"
limit = 10.0

[mqtt]
url = "{mosquitto.url}"
""", encoding="utf-8")
    log = tmp_path / "gateway.log"
    await mosquitto.stop()  # MES's broker is down the whole time the first gateway runs

    event_ids = []
    async with gateway_process(config, log) as first:
        await serving(endpoint, first, log)
        async with Client(endpoint, timeout=WAIT_S) as client:
            scada = await EventWatch.on(client, ua.ObjectIds.Server)
            for value in (12.0, 5.0, 12.0, 5.0, 12.0):
                device.set(Table.HOLDING, 0, words(value))
                event_ids.append(str(uuid.UUID(bytes=(await scada.next()).EventId)))
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL

    await mosquitto.start()
    mes = await subscribers(mosquitto, f"uvelka/{GATEWAY}/alarms/+")
    async with gateway_process(config, log):
        delivered = [await next_alarm(mes) for _ in event_ids]
    assert [message["id"] for message in delivered] == event_ids
    assert [message["kind"] for message in delivered] == [
        "activated", "cleared", "activated", "cleared", "activated"]
    seqs = [message["seq"] for message in delivered]
    assert seqs == list(range(seqs[0], seqs[0] + len(event_ids)))


async def serving(endpoint: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Return once the gateway process's OPC UA server accepts a session."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        client = Client(endpoint, timeout=WAIT_S)
        try:
            await client.connect()
        except (OSError, TimeoutError):
            if process.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"the gateway is not serving; see {log}") from None
            await asyncio.sleep(0.1)  # polling the port until the server listens
            continue
        await client.disconnect()
        return
