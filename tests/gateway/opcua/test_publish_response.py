"""PublishResponses encoded by gateway.opcua.encoding (issue #17: asyncua's serializer took
a third of each publish cycle): the bytes asyncua's serializer makes, and what a real
client sees of them (sequence numbers, acknowledgements, keep-alives, republish)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, Node, ua
from asyncua.ua.ua_binary import struct_to_binary

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.opcua import OpcuaServer
from gateway.opcua.encoding import data_change_notification, publish_response
from tests.fixtures.opcua import WAIT_S, monitored_item_request

BAD_ID = ua.StatusCode(ua.StatusCodes.BadSubscriptionIdInvalid)
EVENTS = ua.ObjectIds.EventNotificationList_Encoding_DefaultBinary
_TIMESTAMP = slice(4, 12)  # the ResponseHeader's Timestamp, after the TypeId


def result(
    data: list[object], numbers: list[int], results: list[ua.StatusCode]
) -> ua.PublishResult:
    found = ua.PublishResult(
        SubscriptionId=7,
        AvailableSequenceNumbers=numbers,
        MoreNotifications=False,
        Results=results,
    )
    found.NotificationMessage.SequenceNumber = 12
    found.NotificationMessage.NotificationData = data  # type: ignore[assignment]
    return found


def asyncua_bytes(published: ua.PublishResult, handle: int) -> bytes:
    response = ua.PublishResponse(Parameters=published)
    response.ResponseHeader.RequestHandle = handle
    return struct_to_binary(response)


@pytest.mark.parametrize(
    ("data", "numbers", "results"),
    [
        (
            [data_change_notification([b"\x01\x00\x00\x00\x00", b"\x02\x00\x00\x00\x00"])],
            [10, 11, 12],
            [ua.StatusCode(), BAD_ID],
        ),
        ([], [11], [ua.StatusCode()]),  # a keep-alive
        ([], [], []),
        (
            [data_change_notification([]), data_change_notification([b"\x05\x00\x00\x00\x00"])],
            [12],
            [],
        ),
    ],
    ids=["data-acks-results", "keep-alive", "nothing", "two-notifications"],
)
def test_the_bytes_are_asyncuas(
    data: list[object], numbers: list[int], results: list[ua.StatusCode]
) -> None:
    published = result(data, numbers, results)
    ours = publish_response(published, 4242)
    theirs = asyncua_bytes(published, 4242)
    assert ours is not None
    # Both stamp the ResponseHeader with the time they encode it.
    assert ours[: _TIMESTAMP.start] + ours[_TIMESTAMP.stop :] == (
        theirs[: _TIMESTAMP.start] + theirs[_TIMESTAMP.stop :]
    )
    stamped = ua.win_epoch_to_datetime(int.from_bytes(ours[_TIMESTAMP], "little", signed=True))
    assert abs(stamped - datetime.now(UTC)) < timedelta(seconds=WAIT_S)


@pytest.mark.parametrize(
    "other",
    [
        ua.StatusChangeNotification(Status=ua.StatusCode(ua.StatusCodes.BadTimeout)),
        ua.EventNotificationList(),
        ua.ExtensionObject(TypeId=ua.NodeId(EVENTS), Body=b""),
    ],
    ids=["status-change", "events", "foreign-extension-object"],
)
def test_other_notifications_are_left_to_asyncua(other: object) -> None:
    mixed = result([data_change_notification([]), other], [12], [])
    assert publish_response(mixed, 1) is None


class Published:
    """A client subscription's PublishResults as its callback gets them; the first data
    message after `republish_next` is set is also asked for again (Republish) before the
    client acknowledges it."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.results: asyncio.Queue[ua.PublishResult] = asyncio.Queue()
        self.republish_next = False
        self.republished: dict[int, ua.NotificationMessage] = {}

    async def __call__(self, published: ua.PublishResult) -> None:
        message = published.NotificationMessage
        if self.republish_next and message.NotificationData:
            self.republish_next = False
            session = self._client.uaclient.session
            number = message.SequenceNumber
            self.republished[number] = await session.republish(published.SubscriptionId, number)
        await self.results.put(published)

    async def next(self, keep_alive: bool) -> ua.PublishResult:
        """The next data message, or the next keep-alive."""
        async with asyncio.timeout(WAIT_S):
            while True:
                published = await self.results.get()
                if bool(published.NotificationMessage.NotificationData) != keep_alive:
                    return published


def values(published: ua.PublishResult) -> list[object]:
    return [
        item.Value.Value.Value
        for notification in published.NotificationMessage.NotificationData
        for item in notification.MonitoredItems
    ]


async def test_a_client_gets_sequence_numbers_acknowledgements_keep_alives_and_republish(
    opcua_server: OpcuaServer, opcua_client: Client, tag_node: Callable[[str], Node]
) -> None:
    published = Published(opcua_client)
    created = await opcua_client.uaclient.create_subscription(
        ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=20.0,
            RequestedLifetimeCount=3000,
            RequestedMaxKeepAliveCount=5,
            PublishingEnabled=True,
        ),
        published,
    )
    node = tag_node("pump.flow")
    await opcua_client.uaclient.create_monitored_items(
        ua.CreateMonitoredItemsParameters(
            SubscriptionId=created.SubscriptionId,
            ItemsToCreate=[monitored_item_request(node.nodeid, 7)],
        )
    )
    first = await published.next(keep_alive=False)  # the item's first value
    messages = [first]
    for value in (1.0, 2.0, 3.0):
        published.republish_next = value == 2.0
        opcua_server.publish([Sample("pump.flow", value, Quality.GOOD, datetime.now(UTC))])
        messages.append(await published.next(keep_alive=False))
    keep_alive = await published.next(keep_alive=True)

    numbers = [message.NotificationMessage.SequenceNumber for message in messages]
    assert numbers == list(range(numbers[0], numbers[0] + 4))
    assert [values(message) for message in messages[1:]] == [[1.0], [2.0], [3.0]]
    assert {message.SubscriptionId for message in [*messages, keep_alive]} == {
        created.SubscriptionId
    }
    # Part 4 §7.21: a keep-alive carries the next sequence number; the client has
    # acknowledged every data message, so none is left to republish.
    assert keep_alive.NotificationMessage.SequenceNumber == numbers[-1] + 1
    assert keep_alive.AvailableSequenceNumbers == []
    assert numbers[2] in messages[2].AvailableSequenceNumbers
    # Republish sends the unacknowledged message again, whole.
    assert published.republished == {numbers[2]: messages[2].NotificationMessage}
