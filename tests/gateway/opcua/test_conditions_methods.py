"""The methods clients call on conditions: Acknowledge (Part 9 §5.7.3) and
ConditionRefresh/ConditionRefresh2 (§5.5.7, §5.5.8), over a real client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, ua

from gateway.alarms import COMMENT_MAX, Alarm, AlarmRule, Condition
from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.opcua import OpcuaServer
from tests.fixtures.opcua import (
    WAIT_S,
    AlarmHub,
    EventWatch,
    RecordingWriteHandler,
    monitored_item_request,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
GOOD = Quality.GOOD
SERVER = ua.NodeId(ua.ObjectIds.Server)
CONDITION_TYPE = ua.NodeId(ua.ObjectIds.ConditionType)
ACKNOWLEDGE = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
REFRESH = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
REFRESH2 = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh2)
REFRESH_START = ua.NodeId(ua.ObjectIds.RefreshStartEventType)
REFRESH_END = ua.NodeId(ua.ObjectIds.RefreshEndEventType)

HOT = AlarmRule(name="pump_hot", source="pump.temperature", condition=Condition.ABOVE, limit=80.0)
DRY = AlarmRule(name="pump_dry", source="pump.level", condition=Condition.BELOW, limit=10.0)
RUNNING = AlarmRule(name="pump_running", source="pump.running", condition=Condition.TRUE)


@pytest.fixture
def hub() -> AlarmHub:
    return AlarmHub()


@pytest.fixture
async def opcua_server(
    opcua_config: GatewayConfig, write_handler: RecordingWriteHandler, hub: AlarmHub
) -> AsyncIterator[OpcuaServer]:
    async with OpcuaServer(opcua_config, write_handler, hub) as server:
        hub.server = server
        yield server
        await hub.settled()


@pytest.fixture
async def hot(hub: AlarmHub, opcua_server: OpcuaServer) -> Alarm:
    """The pump_hot alarm, exposed below the pump."""
    return await hub.add(Alarm(HOT), device="pump")


def condition(server: OpcuaServer, name: str = "pump_hot") -> ua.NodeId:
    return ua.NodeId(f"Alarms.{name}", server.namespace_index)


async def call(
    client: Client, object_id: ua.NodeId, method_id: ua.NodeId, *args: ua.Variant
) -> ua.CallMethodResult:
    """The full result of a Call, Bad statuses included."""
    request = ua.CallMethodRequest(
        ObjectId=object_id, MethodId=method_id, InputArguments=list(args)
    )
    [result] = await client.uaclient.call([request])
    return result


async def acknowledge(
    client: Client, object_id: ua.NodeId, event_id: bytes, comment: str = "checked"
) -> ua.StatusCode:
    result = await call(
        client,
        object_id,
        ACKNOWLEDGE,
        ua.Variant(event_id, ua.VariantType.ByteString),
        ua.Variant(ua.LocalizedText(comment), ua.VariantType.LocalizedText),
    )
    return result.StatusCode


async def refresh(
    client: Client, subscription_id: int, item_id: int | None = None
) -> ua.StatusCode:
    args = [ua.Variant(subscription_id, ua.VariantType.UInt32)]
    method = REFRESH
    if item_id is not None:
        args.append(ua.Variant(item_id, ua.VariantType.UInt32))
        method = REFRESH2
    return (await call(client, CONDITION_TYPE, method, *args)).StatusCode


def status(code: int) -> ua.StatusCode:
    return ua.StatusCode(code)


async def acked_state(client: Client, server: OpcuaServer) -> bool:
    node = client.get_node(ua.NodeId("Alarms.pump_hot.AckedState.Id", server.namespace_index))
    return bool(await node.read_value())


@pytest.mark.parametrize("instance_method", [False, True])
async def test_acknowledge_with_the_latest_event_id(
    hub: AlarmHub,
    hot: Alarm,
    opcua_client: Client,
    opcua_server: OpcuaServer,
    instance_method: bool,
) -> None:
    watch = await EventWatch.on(opcua_client, SERVER)
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    shown = await watch.next()
    method = ACKNOWLEDGE
    if instance_method:
        method = ua.NodeId("Alarms.pump_hot.Acknowledge", opcua_server.namespace_index)

    result = await call(
        opcua_client,
        condition(opcua_server),
        method,
        ua.Variant(shown.EventId, ua.VariantType.ByteString),
        ua.Variant(ua.LocalizedText("seen, cooling down"), ua.VariantType.LocalizedText),
    )

    assert result.StatusCode == status(ua.StatusCodes.Good)
    assert hub.acknowledged == [("pump_hot", "anonymous", "seen, cooling down")]
    acked = await watch.next()
    assert hot.last_event is not None
    assert acked.EventId == hot.last_event.id.bytes != activated.id.bytes
    assert getattr(acked, "AckedState/Id") is True
    assert acked.AckedState == ua.LocalizedText("Acknowledged")
    assert getattr(acked, "ActiveState/Id") is True
    assert acked.Retain is True  # still active
    assert acked.Comment == ua.LocalizedText("seen, cooling down")
    assert acked.ClientUserId == "anonymous"
    assert await acked_state(opcua_client, opcua_server) is True


@pytest.mark.parametrize(
    "event_id", [uuid.uuid4().bytes, b"\x01\x02\x03", b""], ids=["unknown", "short", "empty"]
)
async def test_a_wrong_event_id_is_refused_and_the_alarm_stays_unacked(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer, event_id: bytes
) -> None:
    await hub.fire(hot.observe(85.0, GOOD, T0))

    code = await acknowledge(opcua_client, condition(opcua_server), event_id)

    assert code == status(ua.StatusCodes.BadEventIdUnknown)
    assert hot.acked is False
    assert await acked_state(opcua_client, opcua_server) is False


async def test_an_older_event_id_is_refused(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    """An operator who saw an older state has not acknowledged the current one."""
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    await hub.fire(hot.observe(None, Quality.COMM_ERROR, T0 + timedelta(seconds=1)))

    code = await acknowledge(opcua_client, condition(opcua_server), activated.id.bytes)

    assert code == status(ua.StatusCodes.BadEventIdUnknown)
    assert hot.acked is False


async def test_acknowledging_an_acked_condition_is_refused(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    watch = await EventWatch.on(opcua_client, SERVER)
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    await watch.next()
    ok = await acknowledge(opcua_client, condition(opcua_server), activated.id.bytes)
    assert ok == status(ua.StatusCodes.Good)
    acked = await watch.next()

    again = await acknowledge(opcua_client, condition(opcua_server), acked.EventId)

    assert again == status(ua.StatusCodes.BadConditionBranchAlreadyAcked)
    assert len(hub.acknowledged) == 1


async def test_acknowledging_what_is_not_a_condition_is_refused(
    hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    assert hot.last_event is None
    event_id = uuid.uuid4().bytes
    ns = opcua_server.namespace_index
    unknown = await acknowledge(opcua_client, ua.NodeId("Alarms.pump_cold", ns), event_id)
    assert unknown.is_bad()
    for not_a_condition in (ua.NodeId("pump", ns), CONDITION_TYPE):
        code = await acknowledge(opcua_client, not_a_condition, event_id)
        assert code == status(ua.StatusCodes.BadNodeIdUnknown)


async def test_acknowledge_checks_its_arguments(
    hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    event_id = ua.Variant(uuid.uuid4().bytes, ua.VariantType.ByteString)
    missing = await call(opcua_client, condition(opcua_server), ACKNOWLEDGE, event_id)
    assert missing.StatusCode == status(ua.StatusCodes.BadArgumentsMissing)

    mistyped = await call(
        opcua_client,
        condition(opcua_server),
        ACKNOWLEDGE,
        ua.Variant("not bytes", ua.VariantType.String),
        ua.Variant(ua.LocalizedText("checked"), ua.VariantType.LocalizedText),
    )
    assert mistyped.StatusCode == status(ua.StatusCodes.BadInvalidArgument)
    assert mistyped.InputArgumentResults == [
        status(ua.StatusCodes.BadTypeMismatch),
        status(ua.StatusCodes.Good),
    ]


async def test_an_acknowledge_comment_over_the_limit_is_refused_and_nothing_is_stored(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    """Issue #17: a 1,000,000-character comment was stored and published."""
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    event_id = ua.Variant(activated.id.bytes, ua.VariantType.ByteString)

    refused = await call(
        opcua_client,
        condition(opcua_server),
        ACKNOWLEDGE,
        event_id,
        ua.Variant(ua.LocalizedText("x" * 1_000_000), ua.VariantType.LocalizedText),
    )

    assert refused.StatusCode == status(ua.StatusCodes.BadInvalidArgument)
    assert refused.InputArgumentResults == [
        status(ua.StatusCodes.Good),
        status(ua.StatusCodes.BadOutOfRange),
    ]
    assert hub.acknowledged == []
    assert hot.acked is False
    assert await acked_state(opcua_client, opcua_server) is False

    # The longest comment the MQTT command takes is taken here too.
    longest = "y" * COMMENT_MAX
    code = await acknowledge(opcua_client, condition(opcua_server), activated.id.bytes, longest)
    assert code == status(ua.StatusCodes.Good)
    assert hub.acknowledged == [("pump_hot", "anonymous", longest)]


@pytest.mark.parametrize(
    ("method", "code"),
    [
        (ua.ObjectIds.ConditionType_Enable, ua.StatusCodes.BadConditionAlreadyEnabled),
        (ua.ObjectIds.ConditionType_Disable, ua.StatusCodes.BadNotSupported),
        (ua.ObjectIds.ConditionType_AddComment, ua.StatusCodes.BadNotSupported),
    ],
)
async def test_the_other_condition_methods_say_what_they_do_not_do(
    hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer, method: int, code: int
) -> None:
    result = await call(opcua_client, condition(opcua_server), ua.NodeId(method))
    assert result.StatusCode == status(code)


async def test_condition_refresh_replays_the_retained_conditions_to_one_subscription(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    dry = await hub.add(Alarm(DRY), device="pump")
    running = await hub.add(Alarm(RUNNING), device="pump")
    [hot_activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    # Back to Normal: active, cleared and acknowledged, so not retained.
    await hub.fire(dry.observe(5.0, GOOD, T0))
    [dry_cleared] = await hub.fire(dry.observe(15.0, GOOD, T0 + timedelta(seconds=1)))
    await hub.fire([dry.acknowledge("olga", "", T0 + timedelta(seconds=2), dry_cleared.id)])
    # Active and acknowledged: retained.
    [running_activated] = await hub.fire(running.observe(True, GOOD, T0))
    [running_acked] = await hub.fire(
        [running.acknowledge("olga", "known", T0 + timedelta(seconds=3), running_activated.id)]
    )

    # Clients that connect now, after all of it.
    watch = await EventWatch.on(opcua_client, SERVER)
    async with Client(opcua_server.endpoint_url, timeout=WAIT_S) as other_client:
        other = await EventWatch.on(other_client, SERVER)
        assert watch.subscription.subscription_id is not None

        code = await refresh(opcua_client, watch.subscription.subscription_id)

        assert code == status(ua.StatusCodes.Good)
        start = await watch.next()
        replayed = [await watch.next(), await watch.next()]
        end = await watch.next()
        assert start.EventType == REFRESH_START
        assert start.SourceNode == SERVER
        assert end.EventType == REFRESH_END
        assert [event.ConditionName for event in replayed] == ["pump_hot", "pump_running"]
        hot_replayed, running_replayed = replayed
        assert hot_replayed.EventId == hot_activated.id.bytes
        assert hot_replayed.Time == T0
        assert hot_replayed.Retain is True
        assert getattr(hot_replayed, "ActiveState/Id") is True
        assert getattr(hot_replayed, "AckedState/Id") is False
        assert running_replayed.EventId == running_acked.id.bytes
        assert getattr(running_replayed, "AckedState/Id") is True
        assert running_replayed.Comment == ua.LocalizedText("known")
        assert running_replayed.ClientUserId == "olga"

        # The refresh was for one subscription: the other client's first event is the
        # next transition, which both get.
        [marker] = await hub.fire(hot.observe(None, Quality.COMM_ERROR, T0 + timedelta(seconds=4)))
        assert (await other.next()).EventId == marker.id.bytes
        assert (await watch.next()).EventId == marker.id.bytes


async def test_condition_refresh2_replays_to_one_monitored_item(
    hub: AlarmHub, hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    pump = ua.NodeId("pump", opcua_server.namespace_index)
    watch = await EventWatch.on(opcua_client, SERVER, pump)
    server_item, pump_item = watch.items
    assert watch.subscription.subscription_id is not None

    code = await refresh(opcua_client, watch.subscription.subscription_id, pump_item)

    assert code == status(ua.StatusCodes.Good)
    assert (await watch.next_of(pump_item)).EventType == REFRESH_START
    assert (await watch.next_of(pump_item)).EventId == activated.id.bytes
    assert (await watch.next_of(pump_item)).EventType == REFRESH_END
    [marker] = await hub.fire(hot.observe(None, Quality.COMM_ERROR, T0 + timedelta(seconds=1)))
    following = [await watch.next(), await watch.next()]
    assert {event.server_handle for event in following} == {server_item, pump_item}
    assert {event.EventId for event in following} == {marker.id.bytes}


async def test_condition_refresh_of_a_subscription_not_the_callers_is_refused(
    hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    async with Client(opcua_server.endpoint_url, timeout=WAIT_S) as other_client:
        other = await EventWatch.on(other_client, SERVER)
        assert other.subscription.subscription_id is not None
        code = await refresh(opcua_client, other.subscription.subscription_id)
        assert code == status(ua.StatusCodes.BadSubscriptionIdInvalid)
    assert await refresh(opcua_client, 4242) == status(ua.StatusCodes.BadSubscriptionIdInvalid)


async def test_condition_refresh_needs_event_items(
    hot: Alarm, opcua_client: Client, opcua_server: OpcuaServer
) -> None:
    subscription = await opcua_client.create_subscription(20.0, queue_maxsize=100)
    active_id = ua.NodeId("Alarms.pump_hot.ActiveState.Id", opcua_server.namespace_index)
    [created] = await subscription.create_monitored_items([monitored_item_request(active_id, 1)])
    assert isinstance(created, int)
    assert subscription.subscription_id is not None

    assert await refresh(opcua_client, subscription.subscription_id) == status(
        ua.StatusCodes.BadNothingToDo
    )
    data_item = await refresh(opcua_client, subscription.subscription_id, created)
    assert data_item == status(ua.StatusCodes.BadMonitoredItemIdInvalid)


async def test_the_refresh_bracket_passes_a_where_clause_that_selects_conditions(
    hub: AlarmHub, hot: Alarm, opcua_client: Client
) -> None:
    """Part 9 §4.5: a client filtering on condition types still learns the refresh."""
    [activated] = await hub.fire(hot.observe(85.0, GOOD, T0))
    subscription = await opcua_client.create_subscription(20.0, queue_maxsize=100)
    # asyncua's filter for ConditionType: its fields, and EventType InList its subtypes.
    await subscription.subscribe_alarms_and_conditions(SERVER)
    watch = EventWatch(subscription, [])
    assert subscription.subscription_id is not None

    assert await refresh(opcua_client, subscription.subscription_id) == status(ua.StatusCodes.Good)

    assert (await watch.next()).EventType == REFRESH_START
    replayed = await watch.next()
    assert replayed.EventId == activated.id.bytes
    assert replayed.ConditionName == "pump_hot"
    assert replayed.Retain is True
    assert (await watch.next()).EventType == REFRESH_END
