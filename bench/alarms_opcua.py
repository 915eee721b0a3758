"""The alarm benchmark's OPC UA client: the gateway's alarm events as a SCADA sees them,
from an event subscription on the Server object (i=2253), with their arrival times."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from asyncua import Client, ua
from asyncua.common.events import Event

logger = logging.getLogger(__name__)

# The fields the benchmark needs; "/" separates the browse path of a sub-state's Id.
_FIELDS = ("EventId", "Time", "ConditionName", "ActiveState/Id")


@dataclass(frozen=True, slots=True)
class ConditionEvent:
    """One event of a condition; `t` is time.time() when the client handed it over."""

    t: float
    alarm: str
    active: bool
    event_id: str  # the AlarmEvent's UUID, as the MQTT payload's `id`
    time_s: float  # the event's Time: when the condition changed


def _event_filter() -> ua.EventFilter:
    return ua.EventFilter(SelectClauses=[
        ua.SimpleAttributeOperand(
            TypeDefinitionId=ua.NodeId(ua.ObjectIds.BaseEventType),
            BrowsePath=[ua.QualifiedName(name, 0) for name in path.split("/")],
            AttributeId=ua.AttributeIds.Value,
        )
        for path in _FIELDS
    ])


class OpcuaEvents:
    """One session with one subscription to the Server object's events."""

    def __init__(self, endpoint: str, on_event: Callable[[ConditionEvent], None]) -> None:
        self.client = Client(endpoint, timeout=30.0)
        self.client.session_timeout = 600_000  # ms: what asyncua's server grants at most
        self._on_event = on_event
        self.ignored = 0  # events that are not a condition's (no ConditionName)

    async def connect(self, publishing_interval_ms: float) -> None:
        """Open the session and subscribe (asyncua's server grants any publishing interval
        as requested)."""
        await self.client.connect()
        parameters = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=publishing_interval_ms,
            # A keep-alive every 1000 empty cycles, and a lifetime 3 keep-alives long
            # (Part 4 5.13.2); asyncua's client would ask for keep-alives the server revises.
            RequestedMaxKeepAliveCount=1000, RequestedLifetimeCount=3000,
            MaxNotificationsPerPublish=10_000, PublishingEnabled=True)
        subscription = await self.client.create_subscription(parameters, self)
        await subscription.subscribe_events(ua.NodeId(ua.ObjectIds.Server),
                                            evfilter=_event_filter(), queuesize=10_000)

    async def close(self) -> None:
        """End the session; a gateway that is gone already leaves nothing to end."""
        try:
            await self.client.disconnect()
        except (OSError, TimeoutError, ua.UaError) as error:
            logger.debug("OPC UA disconnect: %s", error)

    async def read(self, namespace: str, names: Sequence[str]) -> list[ua.DataValue]:
        """The DataValues of variables `s=<name>` in `namespace`, in one Read."""
        index = await self.client.get_namespace_index(namespace)
        nodes = [self.client.get_node(ua.NodeId(name, index)) for name in names]
        return await self.client.read_attributes(nodes)

    def event_notification(self, event: Event) -> None:
        """asyncua's handler callback, on the client's event loop."""
        arrived = time.time()
        alarm = getattr(event, "ConditionName", None)
        if not alarm:
            self.ignored += 1
            return
        self._on_event(ConditionEvent(
            t=arrived,
            alarm=str(alarm),
            active=bool(getattr(event, "ActiveState/Id")),
            event_id=str(uuid.UUID(bytes=event.EventId)),
            time_s=event.Time.timestamp(),
        ))
