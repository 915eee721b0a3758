"""The edge node's session rules on a real mosquitto, fed by the test: asset births, seq
wrapping, the primary host, store-and-forward with is_historical, a clean stop's NDEATH.
Payloads are decoded by Eclipse Tahu's JavaScript codec; tck-ids are Sparkplug 3.0's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from tests.fixtures.modbus import wait_until
from tests.fixtures.mqtt import Mosquitto, Subscriber, SubscriberFactory
from tests.gateway.sparkplug.harness import TAGS, config_for, edge, level, stored
from tests.gateway.sparkplug.support import (
    STATE_MS,
    Watcher,
    encoded,
    host_state,
    topic,
    watch,
)

PRESSURE = {"name": "pressure", "table": "holding", "address": 4, "type": "float32"}


async def test_assets_are_devices_with_their_model_outputs(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    async with edge(mosquitto.url, tmp_path) as node:
        await scada.until("DBIRTH", "tank")
        dbirth = await scada.next()
        assert dbirth.topic == topic("DBIRTH", "asset-pump1")
        types = {m["name"]: m["type"] for m in dbirth.payload["metrics"]}
        assert types == {
            "AnomalyScore": "Double", "Anomaly": "Boolean", "Models/anomaly/Version": "String",
            "RemainingUsefulLife": "Double", "RemainingUsefulLifeLow": "Double",
            "RemainingUsefulLifeHigh": "Double", "Models/rul/Version": "String",
        }
        # No output yet: null with a Bad quality, never a made-up value.
        score = dbirth.metric("AnomalyScore")
        assert (score["value"], score["properties"]["Quality"]["value"]) == (None, 0)

        now = datetime.now(UTC)
        node.scores([Score("pump1", "anomaly", 0.82, True, Quality.GOOD, now, now, "v3")])
        ddata = await scada.next()
        assert ddata.topic == topic("DDATA", "asset-pump1")
        by_alias = ddata.by_alias()
        values = {m["name"]: by_alias[int(m["alias"])]["value"]
                  for m in dbirth.payload["metrics"] if int(m["alias"]) in by_alias}
        assert values == {"AnomalyScore": 0.82, "Anomaly": True, "Models/anomaly/Version": "v3"}
        # Good again after Bad: the quality goes along once (192), then no more.
        assert {m["properties"]["Quality"]["value"] for m in ddata.payload["metrics"]} == {192}


async def test_seq_counts_every_message_and_wraps_after_255(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    async with edge(mosquitto.url, tmp_path) as node:
        await scada.until("DBIRTH", "asset-pump1")  # seq 0, 1, 2
        for value in range(300):
            node.samples(level(value))
        seqs = [seen.seq for seen in await scada.many(300)]
    # tck-id-payloads-sequence-num-always-included, tck-id-payloads-sequence-num-incrementing,
    # tck-id-payloads-ddata-seq-inc
    assert seqs == [(3 + i) % 256 for i in range(300)]
    assert seqs[252:254] == [255, 0]


async def test_births_wait_for_the_primary_host_and_stored_data_is_replayed_historical(
    mosquitto: Mosquitto, host_away: tuple[Watcher, Subscriber], tmp_path: Path
) -> None:
    scada, host = host_away
    async with edge(mosquitto.url, tmp_path, primary_host_id="scada") as node:
        for count, value in enumerate((10, 11, 12), start=1):
            await stored(node, value, count=count)
        # tck-id-message-flow-edge-node-birth-publish-phid-wait,
        # tck-id-operational-behavior-edge-node-birth-sequence-wait: nothing is born while
        # the host is offline.
        assert await scada.quiet(1.0) == []

        # Another host's STATE is not the primary host's
        # (tck-id-message-flow-edge-node-birth-publish-phid-wait-id).
        await host_state(host, online=True, stamp_ms=STATE_MS + 1000, host_id="other")
        assert await scada.quiet(1.0) == []

        await host_state(host, online=True, stamp_ms=STATE_MS + 1000)
        nbirth, before = await scada.until("NBIRTH")
        assert before == []
        await scada.until("DBIRTH", "asset-pump1")
        node.samples(level(13))  # live, while or after the stored ones go out
        replayed = await scada.many(4)
        # In order, before anything newer; marked historical but the live one.
        assert [s.topic for s in replayed] == [topic("DDATA", "tank")] * 4
        assert [s.payload["metrics"][0]["value"] for s in replayed] == [10, 11, 12, 13]
        assert [s.payload["metrics"][0].get("isHistorical", False) for s in replayed] == [
            True, True, True, False]
        assert [s.seq for s in replayed] == [3, 4, 5, 6]
        await wait_until(lambda: node.stats.queued == 0, 10.0, "the outbox emptied")

        # An offline STATE older than the online one is not this host going away
        # (tck-id-operational-behavior-edge-node-termination-host-offline-timestamp).
        await host_state(host, online=False, stamp_ms=STATE_MS)
        assert await scada.quiet(1.0) == []

        # The host goes offline (its Will carries its birth's timestamp): NDEATH, a new
        # connection (the next bdSeq), and data stored until it is back
        # (tck-id-message-flow-edge-node-birth-publish-phid-offline,
        # tck-id-operational-behavior-edge-node-termination-host-offline).
        await host_state(host, online=False, stamp_ms=STATE_MS + 1000)
        ndeath, _ = await scada.until("NDEATH")
        assert ndeath.metric("bdSeq")["value"] == nbirth.metric("bdSeq")["value"]
        await wait_until(lambda: not node.stats.online, 10.0, "the session ended")
        await stored(node, 14, count=4)
        assert await scada.quiet(1.0) == []
        await host_state(host, online=True, stamp_ms=STATE_MS + 2000)
        reborn, _ = await scada.until("NBIRTH")
        assert int(reborn.metric("bdSeq")["value"]) == int(nbirth.metric("bdSeq")["value"]) + 1
        ddata, _ = await scada.until("DDATA", "tank")
        assert ddata.payload["metrics"][0]["value"] == 14
        assert ddata.payload["metrics"][0]["isHistorical"] is True


async def test_a_clean_stop_publishes_ndeath_first(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    async with edge(mosquitto.url, tmp_path):
        nbirth, _ = await scada.until("NBIRTH")
    # tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath, -packet (the
    # broker then sends no Will: exactly one NDEATH arrives)
    ndeath, _ = await scada.until("NDEATH")
    assert ndeath.metric("bdSeq")["value"] == nbirth.metric("bdSeq")["value"]
    assert await scada.quiet(1.0) == []



async def test_bad_commands_are_refused_and_counted_and_the_node_goes_on(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    host = await subscribers(mosquitto)
    async with edge(mosquitto.url, tmp_path) as node:
        dbirth, _ = await scada.until("DBIRTH", "tank")
        level = dbirth.metric("level")
        now = int(datetime.now(UTC).timestamp() * 1000)
        bad = [
            (topic("NCMD"), b"\xff\x00 not protobuf"),
            (topic("DCMD", "no-such-device"), await encoded({"timestamp": now, "metrics": [
                {"name": "level", "type": "UInt16", "value": 1}]})),
            (topic("DCMD", "tank"), await encoded({"timestamp": now, "metrics": [
                {"alias": int(level["alias"]), "type": "String", "value": "high"}]})),
            # writes = false: refused even with the right type
            (topic("DCMD", "tank"), await encoded({"timestamp": now, "metrics": [
                {"alias": int(level["alias"]), "type": "UInt16", "value": 7}]})),
            (topic("NCMD"), await encoded({"timestamp": now, "metrics": [
                {"name": "Node Control/Reboot", "type": "Boolean", "value": True}]})),
        ]
        for command_topic, payload in bad:
            await host.publish(command_topic, payload, qos=0)
        await wait_until(lambda: node.stats.refused == len(bad), 10.0, "every command refused")
        assert node.stats.writes == 0
        # Still serving: a rebirth request is answered.
        await host.publish(topic("NCMD"), await encoded({"timestamp": now, "metrics": [
            {"name": "Node Control/Rebirth", "type": "Boolean", "value": True}]}), qos=0)
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.seq == 0


async def test_a_device_down_before_the_session_is_born_then_dies_after_its_stored_data(
    mosquitto: Mosquitto, host_away: tuple[Watcher, Subscriber], tmp_path: Path
) -> None:
    scada, host = host_away
    async with edge(mosquitto.url, tmp_path, primary_host_id="scada") as node:
        await stored(node, 5, count=1)
        node.status(DeviceStatus("tank", connected=False, last_error="timeout", poll_count=2,
                                 error_count=1, round_trip_s=None))
        await host_state(host, online=True)
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.metric("Gateway/Devices Connected")["value"] == "0"
        got = await scada.many(4)
    # Born with the others, its stored data replayed, then its death (no DDATA of a device
    # after its DDEATH: tck-id-operational-behavior-device-ddeath).
    assert [s.topic for s in got] == [topic("DBIRTH", "tank"), topic("DBIRTH", "asset-pump1"),
                                      topic("DDATA", "tank"), topic("DDEATH", "tank")]
    assert got[2].payload["metrics"][0]["isHistorical"] is True


async def test_devices_edited_while_running_are_born_again_and_aliases_keep_their_meaning(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    running = config_for(mosquitto.url, tmp_path)
    async with edge(mosquitto.url, tmp_path, running=lambda: running) as node:
        first, _ = await scada.until("DBIRTH", "tank")
        before = {m["name"]: int(m["alias"]) for m in first.payload["metrics"]}
        # The device editor inserts a tag before the others.
        running = config_for(mosquitto.url, tmp_path, [PRESSURE, *TAGS])
        node.samples([Sample("tank.pressure", 2.5, Quality.GOOD, datetime.now(UTC))])
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.seq == 0
        dbirth, _ = await scada.until("DBIRTH", "tank")
        after = {m["name"]: int(m["alias"]) for m in dbirth.payload["metrics"]}
        assert {name: after[name] for name in before} == before
        everything = [int(m["alias"]) for m in nbirth.payload["metrics"]] + list(after.values())
        assert after["pressure"] == max(everything)  # a number no metric had
        assert len(everything) == len(set(everything))  # tck-id-payloads-alias-uniqueness
        # The births go out as the edit is seen, the sample that revealed it right after.
        ddata, _ = await scada.until("DDATA", "tank")
        assert [(int(m["alias"]), m["value"]) for m in ddata.payload["metrics"]] == [
            (after["pressure"], 2.5)]


async def test_stored_data_is_replayed_by_name_after_a_restart_with_other_tags(
    mosquitto: Mosquitto, host_away: tuple[Watcher, Subscriber], tmp_path: Path
) -> None:
    scada, host = host_away
    async with edge(mosquitto.url, tmp_path, primary_host_id="scada") as node:
        await stored(node, 5, count=1)
    # Restarted with a tag inserted before `level` and `temperature` gone: aliases move.
    async with edge(mosquitto.url, tmp_path, tags=[PRESSURE, TAGS[0]],
                    primary_host_id="scada"):
        await host_state(host, online=True)
        dbirth, _ = await scada.until("DBIRTH", "tank")
        aliases = {m["name"]: int(m["alias"]) for m in dbirth.payload["metrics"]}
        ddata, _ = await scada.until("DDATA", "tank")
    [metric] = ddata.payload["metrics"]
    assert (int(metric["alias"]), metric["value"], metric["isHistorical"]) == (
        aliases["level"], 5, True)
    assert "name" not in metric
