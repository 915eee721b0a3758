"""The lean data-change path: filters, queues and monitoring modes, through a real client."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, Node, ua
from asyncua.common.subscription import Subscription
from asyncua.common.utils import Buffer
from asyncua.server.address_space import AddressSpace, AttributeValue, NodeData
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.ua.ua_binary import extensionobject_from_binary, struct_to_binary

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.opcua import OpcuaServer
from gateway.opcua.notify import Notifier, reportable
from tests.fixtures.opcua import WAIT_S, Watch, monitored_item_request

TagNode = Callable[[str], Node]
WatchFactory = Callable[..., Awaitable[Watch]]

T0 = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)
GOOD = ua.StatusCode(ua.StatusCodes.Good)
UNCERTAIN = ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)


def dv(value: object, status: ua.StatusCode = GOOD, at: datetime = T0) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, ua.VariantType.Double), status, SourceTimestamp=at)


def judged(
    last: ua.DataValue | None, new: ua.DataValue, flt: object, eu_span: float | None
) -> bool:
    """`reportable` on the parts of two DataValues (no last one: nothing reported yet)."""

    def parts(value: ua.DataValue) -> tuple[object, ua.StatusCode | None, datetime | None]:
        return (None if value.Value is None else value.Value.Value, value.StatusCode,
                value.SourceTimestamp)

    last_parts = (None, None, None) if last is None else parts(last)
    return reportable(last is not None, *last_parts, *parts(new), flt, eu_span)


def data_filter(
    trigger: ua.DataChangeTrigger = ua.DataChangeTrigger.StatusValue,
    deadband: ua.DeadbandType = ua.DeadbandType.None_,
    value: float = 0.0,
) -> ua.DataChangeFilter:
    return ua.DataChangeFilter(Trigger=trigger, DeadbandType=deadband, DeadbandValue=value)


ABSOLUTE_1 = data_filter(deadband=ua.DeadbandType.Absolute, value=1.0)
PERCENT_10 = data_filter(deadband=ua.DeadbandType.Percent, value=10.0)
STATUS_ONLY = data_filter(trigger=ua.DataChangeTrigger.Status)
WITH_TIMESTAMP = data_filter(trigger=ua.DataChangeTrigger.StatusValueTimestamp)
NO_FILTER = ua.ExtensionObject()


@pytest.mark.parametrize(
    ("last", "new", "flt", "eu_span", "expected"),
    [
        (None, dv(1.0), None, None, True),
        (dv(1.0), dv(1.0, at=T0 + timedelta(seconds=1)), None, None, False),
        (dv(1.0), dv(2.0), None, None, True),
        (dv(1.0), dv(1.0, UNCERTAIN), None, None, True),
        (dv(1.0), dv(2.0), STATUS_ONLY, None, False),
        (dv(1.0), dv(1.0, UNCERTAIN), STATUS_ONLY, None, True),
        (dv(1.0), dv(1.0, at=T0 + timedelta(seconds=1)), WITH_TIMESTAMP, None, True),
        (dv(10.0), dv(10.9), ABSOLUTE_1, None, False),
        (dv(10.0), dv(11.2), ABSOLUTE_1, None, True),
        (dv(10.0), dv(10.5, UNCERTAIN), ABSOLUTE_1, None, True),
        # Part 4 §7.22.2: with a deadband, StatusValueTimestamp acts like StatusValue.
        (
            dv(1.0),
            dv(1.2, at=T0 + timedelta(seconds=1)),
            data_filter(ua.DataChangeTrigger.StatusValueTimestamp, ua.DeadbandType.Absolute, 1.0),
            None,
            False,
        ),
        (dv(5.0), dv(6.0), PERCENT_10, 16.0, False),
        (dv(5.0), dv(7.0), PERCENT_10, 16.0, True),
        (dv(5.0), dv(5.1), PERCENT_10, None, True),  # no EURange: every change
        # NaN is reported when entered and left, once (Part 4 §7.22.2).
        (dv(1.0), dv(math.nan), None, None, True),
        (dv(math.nan), dv(math.nan), None, None, False),
        (dv(math.nan), dv(1.0), None, None, True),
        (dv(1.0), dv(math.nan), ABSOLUTE_1, None, True),
        (dv(math.nan), dv(math.nan), ABSOLUTE_1, None, False),
        # The empty ExtensionObject a client sends for "no filter" (asyncua's, node-opcua's).
        (dv(1.0), dv(2.0), NO_FILTER, None, True),
        (dv(1.0), dv(1.0, at=T0 + timedelta(seconds=1)), NO_FILTER, None, False),
        (dv(math.nan), dv(math.nan), NO_FILTER, None, False),
    ],
)
def test_reportable(
    last: ua.DataValue | None,
    new: ua.DataValue,
    flt: ua.DataChangeFilter | None,
    eu_span: float | None,
    expected: bool,
) -> None:
    assert judged(last, new, flt, eu_span) is expected


def test_deadband_on_strings_falls_back_to_equality() -> None:
    old = ua.DataValue(ua.Variant("a", ua.VariantType.String))
    assert judged(old, ua.DataValue(ua.Variant("b", ua.VariantType.String)), ABSOLUTE_1, None)
    assert not judged(
        old, ua.DataValue(ua.Variant("a", ua.VariantType.String)), ABSOLUTE_1, None
    )


def good(key: str, value: float, at: datetime = T0) -> Sample:
    return Sample(key, value, Quality.GOOD, at)


async def test_absolute_deadband_compares_with_the_last_reported_value(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    node = tag_node("pump.flow")
    opcua_server.publish([good("pump.flow", 10.0)])
    subscribed = await watch([node], data_filter=ABSOLUTE_1)  # consumes 10.0
    for value in (10.5, 10.9, 11.2):  # each step < 1, but 11.2 is 1.2 from 10.0
        opcua_server.publish([good("pump.flow", value)])
    assert (await subscribed.next_change(node)).Value.Value == 11.2


async def test_percent_deadband_uses_the_eu_range(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    node = tag_node("pump.pressure")  # EURange 0..16: 10 % is 1.6 bar
    opcua_server.publish([good("pump.pressure", 5.0)])
    subscribed = await watch([node], data_filter=PERCENT_10)
    opcua_server.publish([good("pump.pressure", 6.0)])
    opcua_server.publish([good("pump.pressure", 7.0)])
    assert (await subscribed.next_change(node)).Value.Value == 7.0


async def test_status_trigger_ignores_value_changes(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    node = tag_node("pump.flow")
    opcua_server.publish([good("pump.flow", 1.0)])
    subscribed = await watch([node], data_filter=STATUS_ONLY)
    opcua_server.publish([good("pump.flow", 2.0)])
    opcua_server.publish([Sample("pump.flow", 2.0, Quality.LAST_USABLE, T0)])
    change = await subscribed.next_change(node)
    assert change.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
    assert change.Value.Value == 2.0


async def test_timestamp_trigger_reports_a_new_source_time(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    node = tag_node("pump.flow")
    opcua_server.publish([good("pump.flow", 1.0)])
    subscribed = await watch([node], data_filter=WITH_TIMESTAMP)
    later = T0 + timedelta(seconds=2)
    opcua_server.publish([good("pump.flow", 1.0, later)])
    assert (await subscribed.next_change(node)).SourceTimestamp == later


@pytest.mark.parametrize(("queue_size", "expected"), [(1, [3.0]), (0, [1.0, 2.0, 3.0])])
async def test_queue_size(
    opcua_server: OpcuaServer,
    tag_node: TagNode,
    watch: WatchFactory,
    queue_size: int,
    expected: list[float],
) -> None:
    node = tag_node("pump.flow")
    subscribed = await watch([node], publishing_ms=200.0, queue_size=queue_size)
    # No await in between: all three land in the same publishing interval.
    for value in (1.0, 2.0, 3.0):
        opcua_server.publish([good("pump.flow", value)])
    received = [(await subscribed.next_change(node)).Value.Value for _ in expected]
    # Per node, notifications arrive in order: with queue size 1, a dropped 1.0 or 2.0
    # would have come before 3.0 and shown up here.
    assert received == expected


async def test_disabled_items_get_nothing(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode
) -> None:
    disabled, reporting = tag_node("pump.flow"), tag_node("pump.level")
    subscription = await opcua_client.create_subscription(20.0)
    try:
        results = await subscription.create_monitored_items(
            [
                monitored_item_request(disabled.nodeid, 1, mode=ua.MonitoringMode.Disabled),
                monitored_item_request(reporting.nodeid, 2),
            ]
        )
        assert all(isinstance(r, int) for r in results)
        subscribed = Watch(subscription)
        await subscribed.next_change(reporting)  # its initial value
        opcua_server.publish([good("pump.flow", 4.0)])
        opcua_server.publish([Sample("pump.level", 9, Quality.GOOD, T0)])
        assert (await subscribed.next_change(reporting)).Value.Value == 9
        assert [e for e in subscribed.events if e.node.nodeid == disabled.nodeid] == []
    finally:
        await subscription.delete()


async def test_zero_publishing_interval_publishes_at_once(
    opcua_server: OpcuaServer, tag_node: TagNode, watch: WatchFactory
) -> None:
    # asyncua runs no publish loop for these: the enqueue itself must trigger it.
    node = tag_node("pump.flow")
    subscribed = await watch([node], publishing_ms=0.0)
    opcua_server.publish([good("pump.flow", 8.0)])
    assert (await subscribed.next_change(node)).Value.Value == 8.0


async def test_other_datachange_callbacks_are_still_awaited() -> None:
    # Anything registered on the address space besides a MonitoredItemService keeps
    # asyncua's contract: it is awaited with (handle, DataValue).
    attribute = AttributeValue(ua.DataValue())
    seen: asyncio.Queue[tuple[int, ua.DataValue]] = asyncio.Queue()

    async def callback(handle: int, value: ua.DataValue) -> None:
        await seen.put((handle, value))

    attribute.datachange_callbacks[7] = callback
    notifier = Notifier()
    value = dv(3.0)
    notifier.store(attribute, value, None)
    notifier.flush()
    assert await asyncio.wait_for(seen.get(), WAIT_S) == (7, value)
    assert attribute.value is value
    await notifier.aclose()


class _Subscription:
    """A real asyncua InternalSubscription over a one-node address space."""

    def __init__(self, client_facing: bool) -> None:
        self.nodeid = ua.NodeId("tag", 2)
        self.attribute = AttributeValue(dv(1.0))
        node = NodeData(self.nodeid)
        node.attributes[ua.AttributeIds.Value] = self.attribute
        self.aspace = AddressSpace()
        self.aspace[self.nodeid] = node
        self.results: list[ua.PublishResult] = []
        data = ua.CreateSubscriptionResult(
            SubscriptionId=1,
            RevisedPublishingInterval=1000.0,
            RevisedLifetimeCount=100,
            RevisedMaxKeepAliveCount=10,
        )
        # A client's subscription sends its results with a Publish request; a
        # server-side one hands the result objects to its callback.
        self.isub = InternalSubscription(
            data,
            self.aspace,
            self._published,
            ua.NodeId(),
            request_callback=(lambda _id: object()) if client_facing else None,
        )

    async def _published(self, result: ua.PublishResult, *_request: object) -> None:
        self.results.append(result)

    async def monitor(self) -> int:
        params = ua.CreateMonitoredItemsParameters(
            SubscriptionId=1,
            ItemsToCreate=[monitored_item_request(self.nodeid, 42)],
        )
        [created] = await self.isub.monitored_item_srv.create_monitored_items(params)
        assert created.StatusCode.is_good()
        return int(created.MonitoredItemId)

    async def publish(self) -> list[object]:
        assert await self.isub.publish_results()
        return self.results[-1].NotificationMessage.NotificationData


async def test_a_client_subscription_gets_encoded_notifications() -> None:
    subscription = _Subscription(client_facing=True)
    await subscription.monitor()  # asyncua queues the first value as an object
    notifier = Notifier()
    later = dv(2.0, at=T0 + timedelta(seconds=1))
    notifier.store(subscription.attribute, later, None)
    [data] = await subscription.publish()
    assert isinstance(data, ua.ExtensionObject)
    decoded = extensionobject_from_binary(Buffer(struct_to_binary(data)))
    assert [(item.ClientHandle, item.Value.Value.Value) for item in decoded.MonitoredItems] == [
        (42, 1.0),
        (42, 2.0),
    ]
    assert decoded.MonitoredItems[1].Value.SourceTimestamp == later.SourceTimestamp


async def test_a_server_side_subscription_gets_notification_objects() -> None:
    subscription = _Subscription(client_facing=False)
    await subscription.monitor()
    await subscription.publish()  # the first value
    notifier = Notifier()
    later = dv(2.0, at=T0 + timedelta(seconds=1))
    notifier.store(subscription.attribute, later, None)
    [data] = await subscription.publish()
    assert isinstance(data, ua.DataChangeNotification)
    assert [(item.ClientHandle, item.Value) for item in data.MonitoredItems] == [(42, later)]


# -- the notifier's map from callback handle to monitored item ---------------------------


async def known_item(
    server: OpcuaServer, client: Client, node: Node
) -> tuple[Subscription, int, Watch]:
    """A 20 ms subscription with one reporting item on the pump.flow `node`, which the
    notifier has met: 1.0 was its initial value, 2.0 a notification (both consumed)."""
    server.publish([good("pump.flow", 1.0)])
    subscription = await client.create_subscription(20.0)
    [mid] = await subscription.create_monitored_items([monitored_item_request(node.nodeid, 1)])
    assert isinstance(mid, int), mid
    subscribed = Watch(subscription)
    await subscribed.next_change(node)
    server.publish([good("pump.flow", 2.0)])
    assert (await subscribed.next_change(node)).Value.Value == 2.0
    return subscription, mid, subscribed


async def test_a_modified_filter_applies_to_the_next_values(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode
) -> None:
    node = tag_node("pump.flow")
    subscription, mid, subscribed = await known_item(opcua_server, opcua_client, node)
    try:
        # ModifyMonitoredItems with an absolute deadband of 1.
        [modified] = await subscription.modify_monitored_item(mid, 0.0, mod_filter_val=1)
        assert modified.StatusCode.is_good()
        opcua_server.publish([good("pump.flow", 2.5)])  # 0.5 from 2.0: filtered out
        opcua_server.publish([good("pump.flow", 3.5)])
        # Per node, notifications arrive in order: a reported 2.5 would come first.
        assert (await subscribed.next_change(node)).Value.Value == 3.5
    finally:
        await subscription.delete()


async def test_a_disabled_item_gets_nothing_until_enabled_again(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode
) -> None:
    node = tag_node("pump.flow")
    subscription, _, subscribed = await known_item(opcua_server, opcua_client, node)
    try:
        await subscription.set_monitoring_mode(ua.MonitoringMode.Disabled)
        opcua_server.publish([good("pump.flow", 5.0)])
        opcua_server.publish([good("pump.flow", 6.0)])
        # Back to Reporting, asyncua reports the current value (Part 4 §5.12.1.3); then
        # the values that follow. A 5.0 would have come first.
        await subscription.set_monitoring_mode(ua.MonitoringMode.Reporting)
        assert (await subscribed.next_change(node)).Value.Value == 6.0
        opcua_server.publish([good("pump.flow", 7.0)])
        assert (await subscribed.next_change(node)).Value.Value == 7.0
    finally:
        await subscription.delete()


async def test_an_item_enabled_again_reports_the_current_value_even_if_unchanged(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode
) -> None:
    node = tag_node("pump.flow")
    subscription, _, subscribed = await known_item(opcua_server, opcua_client, node)
    try:
        opcua_server.publish([good("pump.flow", 3.0)])
        assert (await subscribed.next_change(node)).Value.Value == 3.0
        await subscription.set_monitoring_mode(ua.MonitoringMode.Disabled)
        # Enabled again, the item starts over as a new one does (Part 4 §5.12.1.3): with
        # the current value, although the client saw it before the item was disabled.
        await subscription.set_monitoring_mode(ua.MonitoringMode.Reporting)
        assert (await subscribed.next_change(node)).Value.Value == 3.0
    finally:
        await subscription.delete()


async def test_an_item_created_after_one_was_deleted_gets_the_values(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: TagNode
) -> None:
    node = tag_node("pump.flow")
    subscription, first, subscribed = await known_item(opcua_server, opcua_client, node)
    try:
        await subscription.unsubscribe(first)
        [second] = await subscription.create_monitored_items(
            [monitored_item_request(node.nodeid, 2, data_filter=STATUS_ONLY)]
        )
        assert isinstance(second, int), second
        assert (await subscribed.next_change(node)).Value.Value == 2.0  # its initial value
        # The new item's Status trigger, not the deleted item's (no filter), decides.
        opcua_server.publish([good("pump.flow", 3.0)])
        opcua_server.publish([Sample("pump.flow", 4.0, Quality.LAST_USABLE, T0)])
        change = await subscribed.next_change(node)
        assert (change.Value.Value, change.StatusCode.value) == (
            4.0,
            ua.StatusCodes.UncertainLastUsableValue,
        )
    finally:
        await subscription.delete()


async def test_deleted_items_are_forgotten() -> None:
    # Clients that create and delete items for hours must not grow the notifier's map.
    subscription = _Subscription(client_facing=True)
    notifier = Notifier()
    service = subscription.isub.monitored_item_srv
    for value in range(3000):
        mid = await subscription.monitor()
        notifier.store(subscription.attribute, dv(float(value)), None)
        service.delete_monitored_items([mid])
    assert notifier.items_known <= 1024
    await subscription.monitor()
    notifier.store(subscription.attribute, dv(-1.0), None)
    [data] = await subscription.publish()
    assert isinstance(data, ua.ExtensionObject)
    decoded = extensionobject_from_binary(Buffer(struct_to_binary(data)))
    assert [item.Value.Value.Value for item in decoded.MonitoredItems][-1] == -1.0
