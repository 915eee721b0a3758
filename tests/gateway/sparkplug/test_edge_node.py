"""The gateway as a Sparkplug B edge node, end to end: a pymodbus device polled by the real
gateway, a real mosquitto, and every payload decoded by Eclipse Tahu's JavaScript codec.

Each test cites the Sparkplug 3.0 normative statements (tck-ids) it checks.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from drivers.base import Table
from gateway.config.model import GatewayConfig
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.sparkplug.support import (
    EDGE,
    GROUP,
    Watcher,
    encoded,
    topic,
    watch,
    words,
)

POLL_S = 0.25
START_S = 60.0  # the OPC UA server starts slowly on a loaded machine


def config_for(device: PymodbusServer, broker: Mosquitto, data_dir: Path,
               **sparkplug: Any) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": EDGE, "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "history": {"enabled": False},
        "devices": [{
            "name": "pump1", "url": device.url, "poll_interval": POLL_S, "timeout": 0.3,
            "tags": [
                {"name": "pressure", "table": "holding", "address": 0, "type": "float32",
                 "unit": "bar", "range": [0.0, 16.0]},
                {"name": "speed", "table": "holding", "address": 2, "type": "int16",
                 "writable": True},
                {"name": "running", "table": "coil", "address": 0, "type": "bool"},
            ],
        }],
        "sparkplug": {"group_id": GROUP, "broker": {"url": broker.url}, **sparkplug},
    })


@pytest.fixture
def device(modbus_tcp_server: PymodbusServer) -> PymodbusServer:
    modbus_tcp_server.set(Table.HOLDING, 0, words(4.5))
    modbus_tcp_server.set(Table.HOLDING, 2, [(-3) & 0xFFFF])
    modbus_tcp_server.set(Table.COIL, 0, [True])
    return modbus_tcp_server


@pytest.fixture
async def scada(mosquitto: Mosquitto, subscribers: SubscriberFactory) -> Watcher:
    return await watch(subscribers, mosquitto)


async def test_births_decoded_by_tahu(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, tmp_path: Path
) -> None:
    async with running(config_for(device, mosquitto, tmp_path), start_s=START_S):
        nbirth, before = await scada.until("NBIRTH")
        assert before == []
        # tck-id-topics-nbirth-topic, tck-id-topics-nbirth-mqtt, tck-id-topics-nbirth-seq-num,
        # tck-id-topics-nbirth-timestamp, tck-id-payloads-nbirth-qos, -retain, -seq
        assert (nbirth.topic, nbirth.qos, nbirth.retain) == (topic("NBIRTH"), 0, False)
        assert nbirth.seq == 0
        assert int(nbirth.payload["timestamp"]) == pytest.approx(time.time() * 1000, abs=30_000)
        # tck-id-topics-nbirth-bdseq-included, tck-id-payloads-nbirth-bdseq,
        # tck-id-message-flow-edge-node-birth-publish-nbirth-payload-bdSeq (INT64),
        # tck-id-topics-nbirth-bdseq-increment (starts at zero)
        bd_seq = nbirth.metric("bdSeq")
        assert (bd_seq["type"], bd_seq["value"]) == ("Int64", "0")
        # tck-id-topics-nbirth-rebirth-metric, tck-id-payloads-nbirth-rebirth-req,
        # tck-id-operational-behavior-data-commands-rebirth-name, -datatype, -value
        rebirth = nbirth.metric("Node Control/Rebirth")
        assert (rebirth["type"], rebirth["value"]) == ("Boolean", False)
        assert nbirth.metric("Properties/Gateway")["value"] == EDGE
        assert nbirth.metric("Gateway/Devices Connected")["type"] == "Int64"

        dbirth = await scada.next()
        # tck-id-topics-dbirth-topic, tck-id-topics-dbirth-mqtt, tck-id-topics-dbirth-seq,
        # tck-id-payloads-dbirth-order (right after the NBIRTH)
        assert (dbirth.topic, dbirth.qos, dbirth.retain) == (topic("DBIRTH", "pump1"), 0, False)
        assert dbirth.seq == 1
        names = {m["name"]: m for m in dbirth.payload["metrics"]}
        # tck-id-topics-dbirth-metric-reqs, tck-id-topics-dbirth-metrics,
        # tck-id-payloads-alias-birth-requirement, tck-id-payloads-metric-datatype-req,
        # tck-id-payloads-name-birth-data-requirement (a timestamp on every metric)
        assert set(names) == {"pressure", "speed", "running"}
        assert [names[n]["type"] for n in ("pressure", "speed", "running")] == [
            "Float", "Int16", "Boolean"]
        assert all("alias" in m and "timestamp" in m for m in names.values())
        # tck-id-payloads-alias-uniqueness: across the node's and the device's metrics
        aliases = [int(m["alias"]) for m in nbirth.payload["metrics"] + dbirth.payload["metrics"]]
        assert len(aliases) == len(set(aliases))
        # Engineering unit and range as properties; the quality property
        # (tck-id-payloads-propertyset-quality-value-type, -value-value).
        properties = names["pressure"]["properties"]
        assert properties["engUnit"] == {"type": "String", "value": "bar"}
        assert properties["engLow"] == {"type": "Double", "value": 0.0}
        assert properties["engHigh"] == {"type": "Double", "value": 16.0}
        assert properties["Quality"]["type"] == "Int32"
        assert properties["Quality"]["value"] in (0, 192, 500)
        assert names["speed"]["properties"]["writable"]["value"] is True


async def test_data_by_exception_with_aliases_only(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, tmp_path: Path
) -> None:
    async with running(config_for(device, mosquitto, tmp_path), start_s=START_S):
        await scada.until("NBIRTH")
        dbirth, _ = await scada.until("DBIRTH", "pump1")
        alias = {m["name"]: int(m["alias"]) for m in dbirth.payload["metrics"]}
        # The first reads (the birth came before them, or with them).
        values: dict[int, Any] = {alias[m["name"]]: m["value"] for m in dbirth.payload["metrics"]}
        last_seq = dbirth.seq
        while values[alias["running"]] is not True or values[alias["speed"]] != -3:
            ddata = await scada.next()
            assert ddata.topic == topic("DDATA", "pump1")
            assert ddata.seq == (last_seq + 1) % 256  # type: ignore[operator]
            last_seq = ddata.seq
            values |= {int(m["alias"]): m["value"] for m in ddata.payload["metrics"]}

        device.set(Table.HOLDING, 0, words(7.25))
        ddata = await scada.next()
        # tck-id-topics-ddata-topic, tck-id-topics-ddata-mqtt, tck-id-topics-ddata-seq-num,
        # tck-id-topics-ddata-timestamp, tck-id-payloads-ddata-seq-inc
        assert (ddata.topic, ddata.qos, ddata.retain) == (topic("DDATA", "pump1"), 0, False)
        assert ddata.seq == (last_seq + 1) % 256  # type: ignore[operator]
        assert "timestamp" in ddata.payload
        # tck-id-payloads-alias-data-cmd-requirement: alias, no name;
        # tck-id-topics-ddata-payload, tck-id-operational-behavior-data-publish-dbirth-change:
        # only the metric that changed
        [metric] = ddata.payload["metrics"]
        assert "name" not in metric
        assert (int(metric["alias"]), metric["type"], metric["value"]) == (
            alias["pressure"], "Float", 7.25)
        assert "timestamp" in metric  # tck-id-payloads-name-birth-data-requirement
        # Unchanged values are not sent again, however many polls run.
        assert await scada.quiet(4 * POLL_S) == []


async def test_device_down_ddeath_within_two_polls_and_dbirth_when_back(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, tmp_path: Path
) -> None:
    async with running(config_for(device, mosquitto, tmp_path), start_s=START_S):
        await scada.until("DBIRTH", "pump1")
        await scada.quiet(2 * POLL_S)  # the first reads' DDATA

        await device.stop()
        stopped_ms = time.time() * 1000
        # tck-id-operational-behavior-device-ddeath, tck-id-topics-ddeath-topic,
        # tck-id-topics-ddeath-mqtt, tck-id-topics-ddeath-seq-num,
        # tck-id-payloads-ddeath-timestamp
        ddeath, before = await scada.until("DDEATH", "pump1")
        # Sent (its payload's timestamp) within two polls: the first one that fails, at
        # most a poll interval and the timeout away, plus the next; a loaded machine's delays
        # in delivering and decoding it do not count.
        waited_s = (int(ddeath.payload["timestamp"]) - stopped_ms) / 1000
        assert waited_s <= 2 * POLL_S + 0.3 + 0.5, f"DDEATH sent {waited_s:.2f} s after"
        assert (ddeath.qos, ddeath.retain) == (0, False)
        assert ddeath.seq is not None
        assert "timestamp" in ddeath.payload
        # The node's own metric follows (NDATA: tck-id-topics-ndata-topic, -mqtt, -seq-num),
        # and no data of the device after its death.
        ndata = await scada.next()
        assert (ndata.topic, ndata.qos, ndata.retain) == (topic("NDATA"), 0, False)
        assert ndata.seq == (ddeath.seq + 1) % 256
        assert [m["value"] for m in ndata.payload["metrics"]] == ["0"]  # devices connected
        assert [s.kind for s in await scada.quiet(3 * POLL_S)] == []

        await device.start()
        dbirth, before = await scada.until("DBIRTH", "pump1")
        assert [s.kind for s in before] == []
        assert dbirth.seq == (ndata.seq + 1) % 256  # type: ignore[operator]
        pressure = dbirth.metric("pressure")
        assert pressure["value"] == 4.5


async def test_rebirth_on_ncmd(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    host = await subscribers(mosquitto)
    async with running(config_for(device, mosquitto, tmp_path), start_s=START_S):
        first, _ = await scada.until("NBIRTH")
        await scada.until("DBIRTH", "pump1")
        command = await encoded({"timestamp": int(time.time() * 1000), "metrics": [
            {"name": "Node Control/Rebirth", "type": "Boolean", "value": True}]})
        await host.publish(topic("NCMD"), command, qos=0)
        # tck-id-operational-behavior-data-commands-rebirth-action-1, -2, -3: a complete
        # birth sequence with the same bdSeq (no new MQTT session), NBIRTH with seq 0.
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.seq == 0
        assert nbirth.metric("bdSeq")["value"] == first.metric("bdSeq")["value"]
        dbirth = await scada.next()
        assert (dbirth.topic, dbirth.seq) == (topic("DBIRTH", "pump1"), 1)


@pytest.mark.parametrize("writes", [True, False])
async def test_dcmd_writes_only_when_allowed(
    writes: bool, device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher,
    subscribers: SubscriberFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    host = await subscribers(mosquitto)
    async with running(config_for(device, mosquitto, tmp_path, writes=writes), start_s=START_S):
        dbirth, _ = await scada.until("DBIRTH", "pump1")
        speed = dbirth.metric("speed")
        # tck-id-operational-behavior-data-commands-dcmd-metric-name, -metric-value: by
        # alias as hosts send it after a birth (tck-id-payloads-alias-data-cmd-requirement).
        command = await encoded({"timestamp": int(time.time() * 1000), "metrics": [
            {"alias": int(speed["alias"]), "type": "Int16", "value": -12}]})
        await host.publish(topic("DCMD", "pump1"), command, qos=0)
        if writes:
            await wait_until(lambda: device.get(Table.HOLDING, 2) == [(-12) & 0xFFFF], 10.0,
                             "the DCMD to write the register")
            # The new value comes back as data once polled.
            while True:
                ddata, _ = await scada.until("DDATA", "pump1")
                if any(int(m["alias"]) == int(speed["alias"]) and m["value"] == -12
                       for m in ddata.payload["metrics"]):
                    break
        else:
            await wait_until(lambda: "writes is off" in caplog.text, 10.0, "the refusal")
            await scada.quiet(4 * POLL_S)
            assert device.get(Table.HOLDING, 2) == [(-3) & 0xFFFF]


async def test_broker_restart_ndeath_then_new_bdseq_and_births(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    async with running(config_for(device, mosquitto, tmp_path), start_s=START_S):
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.metric("bdSeq")["value"] == "0"
        await mosquitto.stop()  # mosquitto sends its clients' Wills as it shuts down
        # tck-id-payloads-ndeath-will-message, -will-message-qos, -will-message-retain,
        # tck-id-topics-ndeath-topic, tck-id-topics-ndeath-payload, tck-id-topics-ndeath-seq,
        # tck-id-payloads-ndeath-bdseq, tck-id-topics-nbirth-bdseq-matching (the Will's
        # bdSeq is the NBIRTH's)
        ndeath, _ = await scada.until("NDEATH")
        assert (ndeath.qos, ndeath.retain) == (1, False)
        assert ndeath.seq is None
        [bd_seq] = ndeath.payload["metrics"]
        assert (bd_seq["name"], bd_seq["type"], bd_seq["value"]) == ("bdSeq", "Int64", "0")

        await mosquitto.start()
        # A new subscriber: the gateway's first reconnect waits a second.
        again = await watch(subscribers, mosquitto)
        reborn, before = await again.until("NBIRTH", timeout_s=30.0)
        assert before == []
        # tck-id-topics-nbirth-bdseq-increment: a new CONNECT, the next bdSeq
        assert reborn.metric("bdSeq")["value"] == "1"
        assert reborn.seq == 0
        dbirth = await again.next()
        assert dbirth.topic == topic("DBIRTH", "pump1")


async def test_the_mqtt_broker_is_shared_under_a_client_id_of_its_own(
    device: PymodbusServer, mosquitto: Mosquitto, scada: Watcher, subscribers: SubscriberFactory,
    tmp_path: Path,
) -> None:
    status = await subscribers(mosquitto, f"uvelka/{EDGE}/status")
    config = config_for(device, mosquitto, tmp_path).model_dump(mode="json", exclude_none=True)
    del config["sparkplug"]["broker"]
    config["mqtt"] = {"url": mosquitto.url}
    async with running(GatewayConfig.model_validate(config), start_s=START_S):
        await scada.until("DBIRTH", "pump1")
        online = await status.get()
        assert online.payload == b"online"
        # Both clients stay connected: neither takes the other's client id (a taken one
        # would show as NDEATH and a new NBIRTH), and the bridge stays online.
        assert {s.kind for s in await scada.quiet(8 * POLL_S)} <= {"DDATA"}
        with pytest.raises(TimeoutError):
            await status.get(0.5)  # no "offline" of the bridge
        assert "uvelka-plant-sparkplug" in mosquitto.log()
