"""Sparkplug 3.0 normative statements of an edge node that the other tests do not reach:
the topic namespace and the commands' subscriptions as the broker saw them, the primary
host's STATE messages that must be ignored, and the id format rules of the configuration.
Each test names the tck-ids it checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import validate_text
from tests.fixtures.modbus import wait_until
from tests.fixtures.mqtt import Mosquitto, MosquittoFactory, SubscriberFactory
from tests.gateway.sparkplug.harness import edge, level
from tests.gateway.sparkplug.support import (
    EDGE,
    GROUP,
    HOST,
    STATE_MS,
    host_state,
    host_state_raw,
    topic,
    watch,
)

CLIENT = f"uvelka-{EDGE}-sparkplug"


async def test_commands_are_subscribed_with_qos_1_before_the_nbirth_and_topics_are_spbv10(
    mosquitto_factory: MosquittoFactory, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    broker = await mosquitto_factory(packets=True)
    scada = await watch(subscribers, broker)
    async with edge(broker.url, tmp_path, primary_host_id=HOST) as node:
        await host_state(await subscribers(broker), online=True)
        await scada.until("DBIRTH", "asset-pump1")
        node.samples(level(7))
        ddata, _ = await scada.until("DDATA", "tank")
    ndeath, _ = await scada.until("NDEATH")

    # The broker's record of the node's packets, in the order they arrived: a SUBSCRIBE's
    # line is followed by one line per topic filter, indented.
    received: list[tuple[str, str]] = []  # (packet, topic)
    sender = ""
    for line in broker.log().splitlines():
        text = line.split(": ", 1)[-1]
        if text.startswith("Received "):
            sender = text.split(" from ", 1)[-1].split(" ", 1)[0]
            if sender == CLIENT and text.startswith("Received PUBLISH"):
                received.append(("PUBLISH", text.split("'")[1]))
        elif text.startswith("\t") and sender == CLIENT:
            received.append(("SUBSCRIBE", text.strip()))
    subscribed = [name for packet, name in received if packet == "SUBSCRIBE"]
    published = [name for packet, name in received if packet == "PUBLISH"]
    # tck-id-message-flow-edge-node-ncmd-subscribe, tck-id-message-flow-device-dcmd-subscribe:
    # QoS 1, before the NBIRTH; the primary host's STATE too, which the births wait for.
    assert subscribed == [f"{topic('NCMD')} (QoS 1)", f"{topic('DCMD', '+')} (QoS 1)",
                          f"spBv1.0/STATE/{HOST} (QoS 1)"]
    assert received.index(("PUBLISH", topic("NBIRTH"))) == len(subscribed), received

    # tck-id-topic-structure, tck-id-topic-structure-namespace-a (spBv1.0 first),
    # tck-id-topic-structure-namespace-device-id-associated-message-types (DBIRTH, DDATA with
    # a device id), -non-associated-message-types (NBIRTH, NDEATH without)
    assert {name.split("/")[2] for name in published} == {"NBIRTH", "DBIRTH", "DDATA", "NDEATH"}
    for name in published:
        namespace, group, kind, edge_node, *device = name.split("/")
        assert (namespace, group, edge_node) == ("spBv1.0", GROUP, EDGE), name
        assert len(device) == (1 if kind.startswith("D") else 0), name
    assert ddata.topic == topic("DDATA", "tank")
    assert ndeath.topic == topic("NDEATH")


@pytest.mark.parametrize("payload", [
    b"online",  # not JSON
    b"\xff\xfe",  # not UTF-8
    b"[true, 1700000000000]",  # not an object
    b'{"online": true}',  # no timestamp
    b'{"timestamp": 1700000000000}',  # no online flag
    b'{"online": "true", "timestamp": 1700000000000}',  # a string, not a boolean
    b'{"online": true, "timestamp": "1700000000000"}',  # a string, not a number
])
async def test_an_unreadable_state_is_ignored_and_counted(
    payload: bytes, mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    host = await subscribers(mosquitto)
    await host_state_raw(host, payload)
    async with edge(mosquitto.url, tmp_path, primary_host_id=HOST) as node:
        # tck-id-host-topic-phid-birth-payload (online and timestamp), tck-id-message-flow-
        # edge-node-birth-publish-phid-wait-online: not an online host, so no birth; and no
        # crash: the node goes on, and counts it.
        await wait_until(lambda: node.stats.states_ignored == 1, 10.0, "the STATE ignored")
        assert await scada.quiet(1.0) == []
        await host_state(host, online=True)
        nbirth, before = await scada.until("NBIRTH")
        assert before == []
        assert node.stats.states_ignored == 1


async def test_a_state_older_than_the_last_one_is_ignored(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    host = await subscribers(mosquitto)
    await host_state(host, online=True)
    async with edge(mosquitto.url, tmp_path, primary_host_id=HOST) as node:
        await scada.until("DBIRTH", "asset-pump1")  # the online STATE was read

        # tck-id-operational-behavior-edge-node-termination-host-offline-timestamp: an
        # offline STATE older than the online one does not end the session.
        await host_state(host, online=False, stamp_ms=STATE_MS - 1)
        await wait_until(lambda: node.stats.states_ignored == 1, 10.0, "the old STATE ignored")
        node.samples(level(3))
        ddata, before = await scada.until("DDATA", "tank")
        assert before == []
        assert node.stats.online

        # The host goes away for real, then an online STATE older than that offline one
        # comes (tck-id-message-flow-edge-node-birth-publish-phid-wait-timestamp): stale,
        # no birth. (The retained offline STATE, read again after the reconnect, is not older
        # than itself: it is taken, not counted.)
        await host_state(host, online=False, stamp_ms=STATE_MS + 1000)
        await scada.until("NDEATH")
        await wait_until(lambda: not node.stats.online, 10.0, "the session ended")
        await host_state(host, online=True, stamp_ms=STATE_MS + 500)
        await wait_until(lambda: node.stats.states_ignored == 2, 10.0, "the old STATE ignored")
        assert await scada.quiet(1.0) == []
        await host_state(host, online=True, stamp_ms=STATE_MS + 2000)
        await scada.until("NBIRTH")
        assert node.stats.states_ignored == 2


@pytest.mark.parametrize(("key", "value"), [
    ("group_id", "Line+1"), ("group_id", "Line/1"), ("group_id", "Line#1"),
    ("edge_node_id", "edge/1"), ("edge_node_id", "edge+"), ("edge_node_id", "a\tb"),
    ("primary_host_id", "scada#"), ("primary_host_id", "scada\u0000"),
    ("primary_host_id", "host\u0085"),
])
def test_ids_with_characters_the_specification_forbids_are_refused(key: str, value: str) -> None:
    # tck-id-topic-structure-namespace-valid-group-id, -valid-edge-node-id (UTF-8 without
    # + / #), tck-id-intro-group-id-chars, tck-id-intro-edge-node-id-chars (only what MQTT
    # allows in a topic: no NUL, no control characters), and a host id likewise, since it
    # is the STATE topic's last level.
    keys = {"group_id": "Line1", key: value}
    text = ("[sparkplug]\n" + "".join(f'{k} = "{_escaped(v)}"\n' for k, v in keys.items())
            + '[sparkplug.broker]\nurl = "mqtt://127.0.0.1:1883"\n')
    config, problems = validate_text(text, "gateway.toml")
    assert config is None
    [problem] = [str(p) for p in problems if f"sparkplug.{key}" in str(p)]
    assert problem.startswith(f"gateway.toml: sparkplug.{key}: must not hold "), problem


def test_device_ids_take_the_device_names_rules() -> None:
    # tck-id-topic-structure-namespace-valid-device-id, tck-id-intro-device-id-chars: a
    # device id is a device's name, which takes letters, digits, '_' and '-' only.
    text = ('[sparkplug]\ngroup_id = "Line1"\n[sparkplug.broker]\nurl = "mqtt://127.0.0.1"\n'
            '[[devices]]\nname = "pump/1"\nurl = "modbus-tcp://127.0.0.1:502"\n')
    config, problems = validate_text(text, "gateway.toml")
    assert config is None
    assert [str(p) for p in problems if "devices[0].name" in str(p)] == [
        "gateway.toml: devices[0].name: must start with a letter or '_' and hold only "
        "letters, digits, '_', '-' (got 'pump/1')"]


def _escaped(value: str) -> str:
    """`value` as a TOML basic string's content."""
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in value)


def test_device_ids_are_unique_within_the_edge_node() -> None:
    # tck-id-topic-structure-namespace-unique-device-id: an asset is the Sparkplug device
    # "asset-<name>", which a device may not be named.
    text = ('[sparkplug]\ngroup_id = "Line1"\n[sparkplug.broker]\nurl = "mqtt://127.0.0.1"\n'
            '[[devices]]\nname = "asset-pump1"\nurl = "modbus-tcp://127.0.0.1:502"\n'
            '[[devices.tags]]\nname = "flow"\ntable = "input"\naddress = 0\ntype = "float32"\n'
            '[[assets]]\nname = "pump1"\nanomaly = "pump.onnx"\n'
            'inputs = { flow = "asset-pump1.flow" }\n')
    config, problems = validate_text(text, "gateway.toml")
    assert config is None
    assert [str(p) for p in problems if "assets[0].name" in str(p)] == [
        "gateway.toml: assets[0].name: Sparkplug publishes this asset as device "
        "'asset-pump1', which is also the name of a device: rename one of them"]
