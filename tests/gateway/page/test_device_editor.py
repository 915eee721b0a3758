"""Devices edited while the gateway runs (issue #5): a running gateway with its TOML file,
real pymodbus simulators and an asyncua client. Changes reach OPC UA clients without a
restart and the file; a bad edit changes nothing; other sections wait for a restart."""

from __future__ import annotations

import asyncio
import struct
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Node, ua
from asyncua.common.subscription import Subscription

from drivers.base import Table
from gateway.app import Gateway
from gateway.config import check_file, load_config
from gateway.config.document import ConfigDocument
from gateway.opcua.condition_nodes import condition_id
from gateway.page.device_editor import DangerousImport
from tests.fixtures.gateway import WAIT_S, has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT, Watch

GOOD = ua.StatusCodes.Good
GONE = ua.StatusCodes.BadNodeIdUnknown

CONFIG = """\
# Boiler house: edited from the web page too.
[gateway]
name = "plant"
data_dir = "{data_dir}"

[opcua]
endpoint = "{endpoint}"
namespace = "urn:uvelka:test"
security = ["None"]
anonymous = true

[[devices]]
name = "pump1"          # the first pump
url = "{url}"
poll_interval = 0.1

  [[devices.tags]]
  name = "speed"
  table = "holding"
  address = 0
  type = "uint16"

  [[devices.tags]]
  name = "pressure"     # discharge, bar
  table = "holding"
  address = 2
  type = "float32"

  [[devices.tags]]
  name = "temp"
  table = "input"
  address = 0
  type = "int16"

  [[devices.tags]]
  name = "level"
  table = "input"
  address = 1
  type = "uint16"

[[devices]]
name = "fan"
url = "{url}"
unit_id = 2
poll_interval = 0.1

  [[devices.tags]]
  name = "rpm"
  table = "holding"
  address = 0
  type = "uint16"

[[alarms]]
name = "slow"
source = "pump1.speed"
condition = "below"
limit = 100.0
"""


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def words(value: float) -> list[int]:
    return list(struct.unpack(">HH", struct.pack(">f", value)))


@pytest.fixture
def config_file(tmp_path: Path, modbus_tcp_server: PymodbusServer) -> Path:
    path = tmp_path / "gateway.toml"
    text = CONFIG.format(data_dir=tmp_path / "var", endpoint=LOOPBACK_ENDPOINT,
                         url=modbus_tcp_server.url)
    path.write_text(text, encoding="utf-8")
    modbus_tcp_server.set(Table.HOLDING, 0, [1500])
    return path


def serving(
    path: Path, saved: bool = True
) -> AbstractAsyncContextManager[tuple[Gateway, Client]]:
    """The gateway serving the configuration in `path` (edits saved there when `saved`),
    and an asyncua client connected to it."""
    return running(load_config(path), config_file=path if saved else None)


async def subscribe(client: Client, nodes: list[Node]) -> tuple[Subscription, Watch]:
    subscription = await client.create_subscription(20, queue_maxsize=10_000)
    await subscription.subscribe_data_change(nodes, queuesize=100)
    return subscription, Watch(subscription)


def with_tag(device: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    tags = [{**tag, **changes} if tag["name"] == name else tag for tag in device["tags"]]
    return {**device, "tags": tags}


async def test_a_device_added_live_reaches_clients_and_the_file(
    config_file: Path, modbus_server_factory: Any
) -> None:
    original = text_of(config_file)
    second: PymodbusServer = await modbus_server_factory()
    second.set(Table.HOLDING, 7, [4321])
    pump2 = {"name": "pump2", "url": second.url, "poll_interval": 0.1,
             "tags": [{"name": "flow", "table": "holding", "address": 7, "type": "uint16"}]}
    async with serving(config_file) as (gateway, client):
        editor = gateway.running.editor
        assert editor.config_file == config_file
        pump1_poller = gateway.running.fleet.pollers["pump1"]

        outcome = await editor.apply_devices([*editor.devices(), pump2])

        assert outcome.applied
        assert outcome.problems == []
        assert outcome.changes == ["device pump2 added (1 tag)"]
        assert outcome.saved
        assert outcome.restart_needed == []
        flow = await wait_value(node_of(gateway, client)("pump2.flow"), has_status(GOOD),
                                "pump2.flow from the added device")
        assert flow.Value.Value == 4321
        assert gateway.running.fleet.pollers["pump1"] is pump1_poller  # the others keep running
        saved = text_of(config_file)
        assert editor.export_text() == saved
        assert load_config(config_file) == gateway.config
        assert ConfigDocument.read(config_file).devices()[-1] == pump2
        assert saved.startswith(original.split("[[alarms]]")[0])  # comments and all
        assert (config_file.parent / "gateway.toml.bak").read_text(encoding="utf-8") == original


async def test_a_client_watching_an_unchanged_tag_of_an_edited_device_keeps_its_data(
    config_file: Path, modbus_tcp_server: PymodbusServer
) -> None:
    server = modbus_tcp_server
    async with serving(config_file) as (gateway, client):
        node = node_of(gateway, client)
        speed, level, pressure = node("pump1.speed"), node("pump1.level"), node("pump1.pressure")
        await wait_value(speed, has_status(GOOD), "pump1.speed")
        _, watch = await subscribe(client, [speed, level])
        assert (await watch.next_change(speed)).Value.Value == 1500
        pollers = gateway.running.fleet.pollers
        pump1_poller, fan_poller = pollers["pump1"], pollers["fan"]
        editor = gateway.running.editor
        pump1, fan = editor.devices()
        pump1 = with_tag(with_tag(pump1, "pressure", address=4), "temp", type="uint16")
        pump1["tags"] = [tag for tag in pump1["tags"] if tag["name"] != "level"]

        outcome = await editor.apply_devices([pump1, fan])

        assert outcome.changes == [
            "device pump1: tag level removed",
            "device pump1: tag pressure changed (address 2 -> 4)",
            "device pump1: tag temp changed (type int16 -> uint16)",
        ]
        await watch.wait_for(
            lambda ev: ev.node == level and ev.data.monitored_item.Value.StatusCode.value == GONE
        )
        server.set(Table.HOLDING, 0, [1720])
        assert (await watch.next_change(speed, timeout_s=WAIT_S)).Value.Value == 1720
        server.set(Table.HOLDING, 4, words(6.5))
        await wait_value(pressure, lambda dv: dv.Value.Value == 6.5, "pressure at address 4")
        gone = await level.read_data_value(raise_on_bad_status=False)
        assert gone.StatusCode.value == GONE
        temp = await wait_value(node("pump1.temp"), has_status(GOOD), "the rebuilt temp")
        assert temp.Value.VariantType == ua.VariantType.UInt16
        assert watch.status_changes == []
        assert gateway.running.fleet.pollers["pump1"] is not pump1_poller  # its loop restarted
        assert gateway.running.fleet.pollers["fan"] is fan_poller  # the other device's did not


async def test_a_bad_candidate_changes_nothing_and_says_what_check_config_says(
    config_file: Path, tmp_path: Path
) -> None:
    before = text_of(config_file)
    async with serving(config_file) as (gateway, _):
        editor = gateway.running.editor
        running, poller = gateway.config, gateway.running.fleet.pollers["pump1"]
        pump1, fan = editor.devices()

        outcome = await editor.apply_devices([with_tag(pump1, "pressure", type="flaot32"), fan])

        assert not outcome.applied
        assert [(p.path, p.message) for p in outcome.problems] == [(
            "devices[0].tags[1].type",
            "unknown type 'flaot32'; expected one of bool, int16, uint16, int32, uint32, "
            "int64, uint64, float32, float64, string",
        )]
        assert [str(p) for p in outcome.problems] == [
            f"{config_file}: devices[0].tags[1].type: unknown type 'flaot32'; expected one of "
            "bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string"
        ]
        candidate = tmp_path / "candidate.toml"
        candidate.write_text(
            ConfigDocument.read(config_file)
            .with_devices([with_tag(pump1, "pressure", type="flaot32"), fan]).text(),
            encoding="utf-8",
        )
        assert [(p.path, p.message) for p in check_file(candidate)] == [
            (p.path, p.message) for p in outcome.problems
        ]
        assert outcome.changes == []
        assert not outcome.saved
        assert text_of(config_file) == before
        assert not (config_file.parent / "gateway.toml.bak").exists()
        assert gateway.config is running
        assert gateway.running.fleet.pollers["pump1"] is poller
        assert editor.devices() == [pump1, fan]


async def test_an_import_with_another_opcua_section_is_saved_for_the_restart(
    config_file: Path,
) -> None:
    text = (
        text_of(config_file)
        .replace('namespace = "urn:uvelka:test"', 'namespace = "urn:uvelka:other"')
        .replace("address = 0\n  type = \"uint16\"", "address = 5\n  type = \"uint16\"", 1)
    )
    async with serving(config_file) as (gateway, client):
        running = gateway.config

        with pytest.raises(DangerousImport) as refused:
            await gateway.running.editor.import_text(text)
        assert refused.value.dangers == [
            "it changes [opcua] namespace: OPC UA clients must use the new settings after "
            "the next start"]
        assert gateway.running.editor.export_text() == text_of(config_file)

        outcome = await gateway.running.editor.import_text(text, confirmed=True)

        assert outcome.applied
        assert outcome.restart_needed == ["opcua"]
        assert outcome.saved
        assert outcome.changes == ["device pump1: tag speed changed (address 0 -> 5)"]
        assert text_of(config_file) == text
        assert gateway.running.editor.export_text() == text
        # The devices run as imported; the namespace changes at the next start.
        assert gateway.config.devices == load_config(config_file).devices
        assert gateway.config.opcua == running.opcua
        namespaces = await client.get_namespace_array()
        assert "urn:uvelka:test" in namespaces
        assert "urn:uvelka:other" not in namespaces


async def test_imported_devices_the_running_alarms_need_wait_for_the_restart(
    config_file: Path,
) -> None:
    # The import removes both the alarm and the tag it watches: the running alarm still
    # watches pump1.speed until the restart, so the devices cannot change before it.
    document = ConfigDocument.read(config_file)
    pump1, fan = document.devices()
    pump1["tags"] = [tag for tag in pump1["tags"] if tag["name"] != "speed"]
    text = document.with_devices([pump1, fan]).text().split("[[alarms]]")[0]
    async with serving(config_file) as (gateway, client):
        running = gateway.config

        outcome = await gateway.running.editor.import_text(text)

        assert outcome.applied
        assert outcome.restart_needed == ["devices", "alarms"]
        assert outcome.changes == ["device pump1: tag speed removed"]
        assert text_of(config_file) == text
        assert gateway.config is running
        await wait_value(node_of(gateway, client)("pump1.speed"), has_status(GOOD),
                         "pump1.speed, still polled")


async def test_disabling_a_device_takes_its_nodes_and_alarm_conditions_along(
    config_file: Path,
) -> None:
    async with serving(config_file) as (gateway, client):
        node = node_of(gateway, client)
        ns = gateway.running.server.namespace_index
        condition = client.get_node(condition_id("slow", ns))
        assert (await condition.read_browse_name()).Name == "slow"
        editor = gateway.running.editor
        pump1, fan = editor.devices()

        off = await editor.apply_devices([{**pump1, "enabled": False}, fan])

        assert off.changes == ["device pump1 changed (enabled true -> false)"]
        assert "pump1" not in gateway.running.fleet.pollers
        for gone in (node("pump1.speed"), condition):
            read = await gone.read_attribute(ua.AttributeIds.BrowseName,
                                             raise_on_bad_status=False)
            assert read.StatusCode.value == GONE

        on = await editor.apply_devices([pump1, fan])

        assert on.changes == ["device pump1 changed (enabled false -> true)"]
        assert (await condition.read_browse_name()).Name == "slow"
        await wait_value(node("pump1.speed"), has_status(GOOD), "pump1.speed back")
        assert editor.devices() == [pump1, fan]


async def test_without_a_file_edits_apply_live_and_are_not_saved(config_file: Path) -> None:
    before = text_of(config_file)
    async with serving(config_file, saved=False) as (gateway, client):
        editor = gateway.running.editor
        assert editor.config_file is None
        pump1, fan = editor.devices()

        outcome = await editor.apply_devices([pump1, with_tag(fan, "rpm", address=0,
                                                               type="int16")])

        assert outcome.applied
        assert not outcome.saved
        assert outcome.changes == ["device fan: tag rpm changed (type uint16 -> int16)"]
        rpm = await wait_value(node_of(gateway, client)("fan.rpm"), has_status(GOOD), "fan.rpm")
        assert rpm.Value.VariantType == ua.VariantType.Int16
        assert 'type = "int16"' in editor.export_text()
        assert text_of(config_file) == before


async def test_concurrent_edits_apply_one_after_the_other(config_file: Path) -> None:
    async with serving(config_file) as (gateway, _):
        editor = gateway.running.editor
        pump1, fan = editor.devices()

        first, second = await asyncio.gather(
            editor.apply_devices([with_tag(pump1, "speed", address=5), fan]),
            editor.apply_devices([with_tag(pump1, "speed", address=6), fan]),
        )

        assert first.changes == ["device pump1: tag speed changed (address 0 -> 5)"]
        assert second.changes == ["device pump1: tag speed changed (address 5 -> 6)"]
        assert gateway.config.device("pump1").tags[0].address == 6
        assert load_config(config_file) == gateway.config
