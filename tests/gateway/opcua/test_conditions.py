"""Alarms as OPC UA conditions (Part 9), as a real client sees them: the condition nodes
below their source, the events and their standard fields, the variables, removal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, Node, ua
from asyncua.ua.uaerrors import BadNodeIdUnknown

from gateway.alarms import Alarm, AlarmRule, Condition
from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import (
    PUMP_TAGS,
    AlarmHub,
    EventWatch,
    RecordingWriteHandler,
    Watch,
    device,
    make_config,
)
from tests.gateway.opcua.test_assets import ASSETS, KINDS

T0 = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
GOOD = Quality.GOOD
SERVER = ua.NodeId(ua.ObjectIds.Server)
HAS_CONDITION = ua.ObjectIds.HasCondition
HAS_NOTIFIER = ua.ObjectIds.HasNotifier

HOT = AlarmRule(
    name="pump_hot",
    source="pump.temperature",
    condition=Condition.ABOVE,
    limit=80.0,
    hysteresis=2.0,
    severity=700,
    message="Pump temperature high",
)
DRY = AlarmRule(name="pump_dry", source="pump.level", condition=Condition.BELOW, limit=10.0)
RUNNING = AlarmRule(name="pump_running", source="pump.running", condition=Condition.TRUE)
BEARING = AlarmRule(
    name="pump1_bearing",
    source="pump1.AnomalyScore",
    condition=Condition.ABOVE,
    limit=3.0,
    severity=800,
)

WatchFactory = Callable[..., Awaitable[Watch]]


@pytest.fixture
def opcua_config() -> GatewayConfig:
    return make_config([device("pump", PUMP_TAGS)])


@pytest.fixture
def hub() -> AlarmHub:
    return AlarmHub()


@pytest.fixture
async def opcua_server(
    opcua_config: GatewayConfig, write_handler: RecordingWriteHandler, hub: AlarmHub
) -> AsyncIterator[OpcuaServer]:
    """The server with the hub as alarm handler, the pump device and the pump1 asset."""
    async with OpcuaServer(opcua_config, write_handler, hub) as server:
        hub.server = server
        await server.add_asset(ASSETS["pump1"], KINDS["pump1"])
        yield server


@pytest.fixture
def node(opcua_client: Client, opcua_server: OpcuaServer) -> Callable[[str], Node]:
    """The client-side Node of a string NodeId in the gateway's namespace."""

    def make(identifier: str) -> Node:
        return opcua_client.get_node(ua.NodeId(identifier, opcua_server.namespace_index))

    return make


async def targets(source: Node, reftype: int) -> set[ua.NodeId]:
    refs = await source.get_references(reftype, ua.BrowseDirection.Forward, includesubtypes=False)
    return {ref.NodeId for ref in refs}


@pytest.mark.parametrize(
    ("rule", "source", "type_id", "type_specific"),
    [
        (BEARING, {"asset": "pump1"}, ua.ObjectIds.ExclusiveLevelAlarmType, "0:HighLimit"),
        (DRY, {"device": "pump"}, ua.ObjectIds.ExclusiveLevelAlarmType, "0:LowLimit"),
        (RUNNING, {"device": "pump"}, ua.ObjectIds.OffNormalAlarmType, "0:NormalState"),
    ],
)
async def test_a_condition_is_an_instance_of_its_type_below_its_source(
    hub: AlarmHub,
    opcua_server: OpcuaServer,
    node: Callable[[str], Node],
    rule: AlarmRule,
    source: dict[str, str],
    type_id: int,
    type_specific: str,
) -> None:
    await hub.add(Alarm(rule), **source)
    ns = opcua_server.namespace_index
    owner = node(f"Assets.{source['asset']}" if "asset" in source else source["device"])
    condition = node(f"Alarms.{rule.name}")

    assert condition.nodeid in await targets(owner, HAS_CONDITION)
    assert condition.nodeid in await targets(owner, ua.ObjectIds.HasComponent)
    assert await condition.read_type_definition() == ua.NodeId(type_id)
    assert await condition.read_browse_name() == ua.QualifiedName(rule.name, ns)
    # The standard's browse paths lead to NodeIds derived from the alarm's name.
    active_id = await condition.get_child(["0:ActiveState", "0:Id"])
    assert active_id.nodeid == ua.NodeId(f"Alarms.{rule.name}.ActiveState.Id", ns)
    acknowledge = await condition.get_child("0:Acknowledge")
    assert await acknowledge.read_node_class() == ua.NodeClass.Method
    await condition.get_child(type_specific)  # raises if the type's property is missing


async def test_the_notifier_chain_leads_from_the_server_object_to_the_source(
    hub: AlarmHub, opcua_client: Client, node: Callable[[str], Node]
) -> None:
    await hub.add(Alarm(HOT), device="pump")
    await hub.add(Alarm(BEARING), asset="pump1")
    server = opcua_client.get_node(SERVER)
    gateway, devices, assets = node("plant"), node("Devices"), node("Assets")
    pump, pump1 = node("pump"), node("Assets.pump1")

    assert gateway.nodeid in await targets(server, HAS_NOTIFIER)
    assert await targets(gateway, HAS_NOTIFIER) == {devices.nodeid, assets.nodeid}
    assert await targets(devices, HAS_NOTIFIER) == {pump.nodeid}
    assert await targets(assets, HAS_NOTIFIER) == {pump1.nodeid}
    for notifier in (gateway, devices, assets, pump, pump1):
        assert await notifier.read_event_notifier() == {ua.EventNotifier.SubscribeToEvents}


async def test_an_event_reaches_every_notifier_above_its_source_and_no_other(
    hub: AlarmHub, opcua_client: Client, node: Callable[[str], Node]
) -> None:
    hot = await hub.add(Alarm(HOT), device="pump")
    bearing = await hub.add(Alarm(BEARING), asset="pump1")
    above_pump = [SERVER, node("plant"), node("Devices"), node("pump")]
    # One subscription per notifier: each one's first event tells what reached it.
    watches = [await EventWatch.on(opcua_client, notifier) for notifier in above_pump]
    assets = await EventWatch.on(opcua_client, node("Assets"))

    await hub.fire(hot.observe(85.0, GOOD, T0))
    await hub.fire(bearing.observe(5.0, GOOD, T0))

    for watch in watches:
        assert (await watch.next()).ConditionName == "pump_hot"
    assert (await assets.next()).ConditionName == "pump1_bearing"


async def test_an_activation_event_carries_the_standard_fields(
    hub: AlarmHub, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    alarm = await hub.add(Alarm(HOT), device="pump")
    watch = await EventWatch.on(opcua_client, SERVER)
    ns = opcua_server.namespace_index

    before = datetime.now(UTC)
    [activated] = await hub.fire(alarm.observe(85.0, GOOD, T0))
    event = await watch.next()
    after = datetime.now(UTC)

    assert event.EventId == activated.id.bytes
    assert event.EventType == ua.NodeId(ua.ObjectIds.ExclusiveLevelAlarmType)
    assert event.NodeId == ua.NodeId("Alarms.pump_hot", ns)  # the ConditionId
    assert event.SourceNode == ua.NodeId("pump", ns)
    assert event.SourceName == "pump"
    assert event.Time == T0
    assert before <= event.ReceiveTime <= after
    assert event.Message == ua.LocalizedText("Pump temperature high")
    assert event.Severity == 700
    assert event.LastSeverity == 700
    assert event.ConditionName == "pump_hot"
    assert event.ConditionClassId == ua.NodeId(ua.ObjectIds.ProcessConditionClassType)
    assert event.ConditionClassName == ua.LocalizedText("Process")
    assert event.BranchId == ua.NodeId()
    assert event.Retain is True
    assert event.EnabledState == ua.LocalizedText("Enabled")
    assert getattr(event, "EnabledState/Id") is True
    assert event.ActiveState == ua.LocalizedText("Active")
    assert getattr(event, "ActiveState/Id") is True
    assert event.AckedState == ua.LocalizedText("Unacknowledged")
    assert getattr(event, "AckedState/Id") is False
    assert event.Quality == ua.StatusCode(ua.StatusCodes.Good)
    assert event.Comment == ua.LocalizedText()
    assert event.ClientUserId is None
    assert event.InputNode == ua.NodeId("pump.temperature", ns)
    assert event.SuppressedOrShelved is False
    assert event.HighLimit == 80.0
    assert event.LowLimit is None
    assert getattr(event, "LimitState/CurrentState") == ua.LocalizedText("High")
    assert getattr(event, "LimitState/CurrentState/Id") == ua.NodeId(
        ua.ObjectIds.ExclusiveLimitStateMachineType_High
    )


@pytest.mark.parametrize(
    ("rule", "source", "value", "expected"),
    [
        (
            DRY,
            {"device": "pump"},
            5.0,
            {
                "EventType": ua.NodeId(ua.ObjectIds.ExclusiveLevelAlarmType),
                "Message": ua.LocalizedText("pump_dry: pump.level below 10"),
                "Severity": 500,
                "LowLimit": 10.0,
                "HighLimit": None,
                "LimitState/CurrentState": ua.LocalizedText("Low"),
                "LimitState/CurrentState/Id": ua.NodeId(
                    ua.ObjectIds.ExclusiveLimitStateMachineType_Low
                ),
            },
        ),
        (
            RUNNING,
            {"device": "pump"},
            True,
            {
                "EventType": ua.NodeId(ua.ObjectIds.OffNormalAlarmType),
                "Message": ua.LocalizedText("pump_running: pump.running is true"),
                "NormalState": ua.NodeId(),
                "HighLimit": None,
                "LimitState/CurrentState": None,
            },
        ),
        (
            BEARING,
            {"asset": "pump1"},
            5.0,
            {
                "SourceName": "pump1",
                "ConditionClassId": ua.NodeId(ua.ObjectIds.MaintenanceConditionClassType),
                "ConditionClassName": ua.LocalizedText("Maintenance"),
                "InputNode": "pump1.AnomalyScore",
            },
        ),
    ],
)
async def test_the_fields_that_depend_on_the_rule_and_source(
    hub: AlarmHub,
    opcua_client: Client,
    opcua_server: OpcuaServer,
    rule: AlarmRule,
    source: dict[str, str],
    value: float | bool,
    expected: dict[str, object],
) -> None:
    alarm = await hub.add(Alarm(rule), **source)
    watch = await EventWatch.on(opcua_client, SERVER)
    await hub.fire(alarm.observe(value, GOOD, T0))
    event = await watch.next()
    ns = opcua_server.namespace_index
    for path, wanted in expected.items():
        if path == "InputNode":
            wanted = ua.NodeId(wanted, ns)
        assert getattr(event, path) == wanted, path


async def test_each_transition_is_one_event_in_order(hub: AlarmHub, opcua_client: Client) -> None:
    alarm = await hub.add(Alarm(HOT), device="pump")
    watch = await EventWatch.on(opcua_client, SERVER)
    events = alarm.observe(85.0, GOOD, T0)
    events += alarm.observe(None, Quality.COMM_ERROR, T0 + timedelta(seconds=1))
    events += alarm.observe(70.0, GOOD, T0 + timedelta(seconds=2))
    shelved_until = T0 + timedelta(hours=1)
    events.append(alarm.shelve(shelved_until, "olga", "pump in repair", T0 + timedelta(seconds=3)))
    await hub.fire(events)

    received = [await watch.next() for _ in events]
    assert [event.EventId for event in received] == [event.id.bytes for event in events]
    activated, lost, cleared, shelved = received
    assert getattr(activated, "ActiveState/Id") is True
    assert lost.Quality == ua.StatusCode(ua.StatusCodes.BadCommunicationError)
    assert getattr(lost, "ActiveState/Id") is True
    # Cleared before anyone acknowledged it: still retained, and no limit is violated.
    assert getattr(cleared, "ActiveState/Id") is False
    assert cleared.ActiveState == ua.LocalizedText("Inactive")
    assert cleared.Retain is True
    assert getattr(cleared, "LimitState/CurrentState") is None
    assert cleared.Quality == ua.StatusCode(ua.StatusCodes.Good)
    assert shelved.SuppressedOrShelved is True
    assert shelved.Comment == ua.LocalizedText("pump in repair")
    assert shelved.ClientUserId == "olga"


async def read(condition: Node, path: str) -> ua.DataValue:
    child = await condition.get_child([f"0:{name}" for name in path.split("/")])
    return await child.read_data_value(raise_on_bad_status=False)


async def test_the_condition_variables_hold_the_current_state(
    hub: AlarmHub, node: Callable[[str], Node], watch: WatchFactory
) -> None:
    alarm = await hub.add(Alarm(HOT), device="pump")
    condition = node("Alarms.pump_hot")

    # Never changed: Normal, and no event announced it.
    assert (await read(condition, "ActiveState/Id")).Value.Value is False
    assert (await read(condition, "AckedState/Id")).Value.Value is True
    assert (await read(condition, "Retain")).Value.Value is False
    assert (await read(condition, "EventId")).Value.Value is None
    assert (await read(condition, "Quality")).Value.Value == ua.StatusCode(
        ua.StatusCodes.BadWaitingForInitialData
    )
    limit_state = await read(condition, "LimitState/CurrentState")
    assert limit_state.StatusCode == ua.StatusCode(ua.StatusCodes.BadStateNotActive)

    active_id = await condition.get_child(["0:ActiveState", "0:Id"])
    changes = await watch([active_id])
    [activated] = await hub.fire(alarm.observe(85.0, GOOD, T0))
    assert (await changes.next_change(active_id)).Value.Value is True

    expected = {
        "ActiveState": ua.LocalizedText("Active"),
        "ActiveState/Id": True,
        "AckedState": ua.LocalizedText("Unacknowledged"),
        "AckedState/Id": False,
        "Retain": True,
        "Severity": 700,
        "Message": ua.LocalizedText("Pump temperature high"),
        "Quality": ua.StatusCode(ua.StatusCodes.Good),
        "EventId": activated.id.bytes,
        "Time": T0,
        "ConditionName": "pump_hot",
        "HighLimit": 80.0,
        "LimitState/CurrentState": ua.LocalizedText("High"),
    }
    for path, wanted in expected.items():
        value = await read(condition, path)
        assert value.StatusCode == ua.StatusCode(ua.StatusCodes.Good), path
        assert value.Value.Value == wanted, path


async def test_a_condition_starts_from_the_alarms_restored_state(
    hub: AlarmHub, node: Callable[[str], Node]
) -> None:
    before_restart = Alarm(HOT)
    [activated] = before_restart.observe(85.0, GOOD, T0)
    restored = Alarm.from_dict(HOT, before_restart.to_dict())
    await hub.add(restored, device="pump")

    condition = node("Alarms.pump_hot")
    assert (await read(condition, "ActiveState/Id")).Value.Value is True
    assert (await read(condition, "AckedState/Id")).Value.Value is False
    assert (await read(condition, "Retain")).Value.Value is True
    assert (await read(condition, "EventId")).Value.Value == activated.id.bytes
    assert (await read(condition, "Time")).Value.Value == T0


async def test_remove_alarm_deletes_the_condition_and_its_notifier(
    hub: AlarmHub,
    opcua_client: Client,
    opcua_server: OpcuaServer,
    node: Callable[[str], Node],
    watch: WatchFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alarm = await hub.add(Alarm(HOT), device="pump")
    condition, pump, devices = node("Alarms.pump_hot"), node("pump"), node("Devices")
    active_id = await condition.get_child(["0:ActiveState", "0:Id"])
    changes = await watch([active_id])
    events = await EventWatch.on(opcua_client, SERVER)

    await opcua_server.remove_alarm("pump_hot")

    gone = await changes.next_change(active_id)
    assert gone.StatusCode == ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
    with pytest.raises(BadNodeIdUnknown):
        await condition.read_browse_name()
    assert condition.nodeid not in await targets(pump, HAS_CONDITION)
    assert condition.nodeid not in await targets(pump, ua.ObjectIds.HasComponent)
    assert pump.nodeid not in await targets(devices, HAS_NOTIFIER)
    assert await pump.read_event_notifier() == set()

    # An event racing the removal is dropped, and said so once.
    with caplog.at_level(logging.WARNING, logger="gateway.opcua.conditions"):
        await hub.fire(alarm.observe(85.0, GOOD, T0))
        await hub.fire(alarm.observe(None, Quality.COMM_ERROR, T0 + timedelta(seconds=1)))
    assert [r.getMessage() for r in caplog.records if r.name == "gateway.opcua.conditions"] == [
        "event of alarm 'pump_hot', which is not in the address space: ignored"
    ]

    # The same alarm comes back under the same NodeIds, in its current state.
    await hub.add(alarm, device="pump")
    assert (await read(condition, "ActiveState/Id")).Value.Value is True
    [cleared] = await hub.fire(alarm.observe(70.0, GOOD, T0 + timedelta(seconds=2)))
    event = await events.next()  # the first event: nothing was sent while it was gone
    assert event.EventId == cleared.id.bytes
    assert getattr(event, "ActiveState/Id") is False


@pytest.mark.parametrize(
    ("rule", "source", "message"),
    [
        (HOT, {}, "exactly one of asset and device"),
        (HOT, {"asset": "pump1", "device": "pump"}, "exactly one of asset and device"),
        (HOT, {"device": "fan"}, "device 'fan' is not exposed"),
        (BEARING, {"asset": "fan1"}, "asset 'fan1' is not exposed"),
        (
            AlarmRule(name="speed", source="pump.speed", condition=Condition.ABOVE, limit=1.0),
            {"device": "pump"},
            "already has a child called 'speed'",
        ),
    ],
)
@pytest.mark.usefixtures("opcua_server")
async def test_add_alarm_refuses_a_wrong_source(
    hub: AlarmHub, rule: AlarmRule, source: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await hub.add(Alarm(rule), **source)


@pytest.mark.usefixtures("opcua_server")
async def test_add_alarm_refuses_an_alarm_already_added(hub: AlarmHub) -> None:
    await hub.add(Alarm(HOT), device="pump")
    with pytest.raises(ValueError, match="'pump_hot' is already in the address space"):
        await hub.add(Alarm(HOT), device="pump")


async def test_alarms_need_an_alarm_handler(
    opcua_config: GatewayConfig, write_handler: RecordingWriteHandler
) -> None:
    async with OpcuaServer(opcua_config, write_handler) as server:
        with pytest.raises(RuntimeError, match="alarm handler"):
            await server.add_alarm(Alarm(HOT), device="pump")
