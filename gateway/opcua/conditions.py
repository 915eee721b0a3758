"""OPC UA Alarms & Conditions (Part 9) for the gateway's alarms.

Each alarm is a condition below its source object (gateway.opcua.condition_nodes); each
AlarmEvent the hub hands over updates the condition's variables and is announced as an
event to the items subscribed to the source object, its folder, the gateway folder or
the Server object (gateway.opcua.asyncua_internals.deliver). The state machine is the hub's
(gateway.alarms): operator methods go to it through `AlarmHandler`
(gateway.opcua.condition_methods), and the hub's resulting events come back here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from asyncua import Server, ua

from gateway.alarms import Alarm, AlarmEvent, EventKind
from gateway.opcua.asyncua_internals import address_space, compute_on_read, deliver
from gateway.opcua.condition_fields import (
    SUBSTATE_FIELDS,
    ConditionIdentity,
    FieldEvent,
    Note,
    fields,
    identity,
    shelving_end,
    system_event_fields,
    unshelve_time_ms,
)
from gateway.opcua.condition_nodes import ConditionNodeBuilder, ConditionNodes, condition_id
from gateway.opcua.notify import Notifier
from gateway.opcua.uatypes import data_value, make_status, standard_id, string_id

logger = logging.getLogger(__name__)

_SERVER = standard_id(ua.ObjectIds.Server)
_GOOD = make_status(ua.StatusCodes.Good)
_NOT_ACTIVE = make_status(ua.StatusCodes.BadStateNotActive)


class AlarmHandler(Protocol):
    """The gateway's alarms, as OPC UA clients act on them (the alarm hub)."""

    def acknowledge(
        self, name: str, user: str, comment: str, event_id: uuid.UUID | None
    ) -> AlarmEvent:
        """Acknowledge alarm `name` as of its event `event_id`; the hub fires the resulting
        event through `OpcuaServer.fire_alarms`. Raises KeyError (unknown alarm),
        StaleEventId or AlarmError."""
        ...

    def shelve(
        self, name: str, until: datetime, user: str, comment: str, *, one_shot: bool = False
    ) -> AlarmEvent:
        """Shelve alarm `name` until `until` (`one_shot`: or until it next clears); the hub
        fires the event. Raises KeyError (unknown alarm) or AlarmError."""
        ...

    def unshelve(self, name: str, user: str) -> AlarmEvent:
        """Unshelve alarm `name`; raises KeyError or AlarmError (not shelved)."""
        ...

    def shelving(self, name: str) -> str | None:
        """How alarm `name` is shelved: "timed", "one-shot" or None; KeyError if unknown."""
        ...

    def now(self) -> datetime:
        """The time shelving counts from."""
        ...

    def retained(self) -> list[AlarmEvent]:
        """The latest event of every alarm that is not Normal, for ConditionRefresh."""
        ...


@dataclass(slots=True)
class _Condition:
    identity: ConditionIdentity
    nodes: ConditionNodes
    notifiers: tuple[ua.NodeId, ...]  # the source object and every notifier above it
    note: Note | None
    fired: tuple[uuid.UUID, datetime] | None  # the latest event fired and its ReceiveTime
    shelved_until: datetime | None = None  # when the current shelving ends at the latest


class Conditions:
    """The conditions in the address space: built, updated, announced, removed."""

    def __init__(
        self,
        server: Server,
        notifier: Notifier,
        namespace_index: int,
        root: ua.NodeId,
        folders: Sequence[ua.NodeId],
    ) -> None:
        """`root` is the gateway's folder, `folders` the folders of the source objects."""
        self._server = server
        self._aspace = address_space(server)
        self._notifier = notifier
        self._ns = namespace_index
        self._builder = ConditionNodeBuilder(self._aspace, namespace_index)
        self._root = root
        self._conditions: dict[str, _Condition] = {}
        self._by_id: dict[ua.NodeId, str] = {}
        self._by_shelving_state: dict[ua.NodeId, str] = {}
        self._sources: dict[ua.NodeId, set[str]] = {}
        self._unknown: set[str] = set()
        # Keeps a refresh's bracket free of other events, and events in order.
        self._lock = asyncio.Lock()
        self._builder.notify(_SERVER, root)
        for folder in folders:
            self._builder.notify(root, folder)

    def add(
        self,
        alarm: Alarm,
        source: ua.NodeId,
        source_name: str,
        folder: ua.NodeId,
        maintenance: bool,
    ) -> None:
        """Build the condition of `alarm` below the object `source` (named `source_name`)
        in `folder`, in the alarm's current state."""
        rule = alarm.rule
        if rule.name in self._conditions:
            raise ValueError(f"alarm {rule.name!r} is already in the address space")
        nodeid = condition_id(rule.name, self._ns)
        input_node = string_id(rule.source, self._ns)
        if input_node not in self._aspace:
            input_node = ua.NodeId()
        condition_identity = identity(rule, nodeid, source, source_name, input_node, maintenance)
        nodes = self._builder.build(
            rule.name, condition_identity.event_type, condition_identity.optional, source
        )
        users = self._sources.setdefault(source, set())
        if not users:
            self._builder.notify(folder, source)
        users.add(rule.name)
        condition = _Condition(
            condition_identity, nodes, (source, folder, self._root, _SERVER), None, None
        )
        self._conditions[rule.name] = condition
        self._by_id[nodeid] = rule.name
        self._by_shelving_state[condition_id(rule.name, self._ns, "ShelvingState")] = rule.name
        self._unknown.discard(rule.name)
        state, event_id = _current(alarm)
        condition.note = Note.of(state)
        condition.shelved_until = shelving_end(state)
        # Part 9 §5.8.10.2: UnshelveTime is the time left now, not as of the last event.
        compute_on_read(
            nodes.values["ShelvingState/UnshelveTime"],
            lambda _nodeid, _attribute: _unshelve_time(condition),
        )
        received = datetime.now(UTC)
        self._store(
            condition, fields(condition_identity, state, received, condition.note, event_id)
        )
        self._notifier.flush()

    def remove(self, name: str) -> None:
        """Delete alarm `name`'s condition; its monitored items get BadNodeIdUnknown."""
        condition = self._conditions.pop(name)
        del self._by_id[condition.identity.nodeid]
        del self._by_shelving_state[condition_id(name, self._ns, "ShelvingState")]
        for attribute in condition.nodes.value_attributes():
            self._notifier.forget(attribute, self._aspace)
        self._notifier.flush()
        self._builder.remove(condition.nodes)
        source, folder = condition.notifiers[:2]
        users = self._sources[source]
        users.discard(name)
        if not users:
            del self._sources[source]
            self._builder.unnotify(folder, source)

    def name_of(self, nodeid: ua.NodeId) -> str | None:
        """The alarm whose ConditionId is `nodeid`, if any."""
        return self._by_id.get(nodeid)

    def shelving_name_of(self, nodeid: ua.NodeId) -> str | None:
        """The alarm whose ShelvingState object is `nodeid` (the ObjectId of a shelving
        method, Part 9 §5.8.10), if any."""
        return self._by_shelving_state.get(nodeid)

    async def fire(self, events: Sequence[AlarmEvent]) -> None:
        """Update each event's condition and announce the event, in order."""
        async with self._lock:
            for event in events:
                condition = self._conditions.get(event.alarm)
                if condition is None:
                    self._log_unknown(event.alarm)
                    continue
                received = datetime.now(UTC)
                condition.note = Note.of(event) or condition.note
                condition.shelved_until = shelving_end(event)
                condition.fired = (event.id, received)
                values = fields(condition.identity, event, received, condition.note, event.id)
                self._store(condition, values)
                self._notifier.flush()
                await deliver(
                    self._server,
                    FieldEvent(values, condition.identity.nodeid),
                    condition.notifiers,
                )

    async def refresh(
        self, retained: Sequence[AlarmEvent], subscription_id: int, item_id: int | None
    ) -> None:
        """Replay the `retained` events to one subscription (and item) between a
        RefreshStartEvent and a RefreshEndEvent (Part 9 §5.5.7, §5.5.8)."""
        async with self._lock:
            await self._bracket(ua.ObjectIds.RefreshStartEventType, subscription_id, item_id)
            for event in retained:
                condition = self._conditions.get(event.alarm)
                if condition is None:
                    continue  # an alarm of the hub that is not (or no longer) exposed
                fired = condition.fired
                received = fired[1] if fired and fired[0] == event.id else event.time
                values = fields(condition.identity, event, received, condition.note, event.id)
                await deliver(
                    self._server,
                    FieldEvent(values, condition.identity.nodeid),
                    condition.notifiers,
                    subscription_id=subscription_id,
                    item_id=item_id,
                )
            await self._bracket(ua.ObjectIds.RefreshEndEventType, subscription_id, item_id)

    async def _bracket(self, event_type: int, subscription_id: int, item_id: int | None) -> None:
        # Part 9 §4.5: the bracket ignores the items' filters, so that a client always
        # learns that a refresh started and ended.
        now = datetime.now(UTC)
        values = system_event_fields(event_type, _SERVER, now, "ConditionRefresh")
        await deliver(
            self._server,
            FieldEvent(values, None),
            None,
            subscription_id=subscription_id,
            item_id=item_id,
            filtered=False,
        )

    def _store(self, condition: _Condition, values: dict[str, ua.Variant]) -> None:
        now = datetime.now(UTC)
        source_time = values["Time"].Value
        attributes = condition.nodes.values
        store = self._notifier.store
        for path, variant in values.items():
            status = _NOT_ACTIVE if variant.Value is None and path in SUBSTATE_FIELDS else _GOOD
            store(attributes[path], data_value(variant, status, source_time, now), None)

    def _log_unknown(self, name: str) -> None:
        # An event can race a remove_alarm; say so once per alarm, not per event.
        if name not in self._unknown:
            self._unknown.add(name)
            logger.warning("event of alarm %r, which is not in the address space: ignored", name)


def _unshelve_time(condition: _Condition) -> ua.DataValue:
    now = datetime.now(UTC)
    left_ms = unshelve_time_ms(condition.shelved_until, now)
    return data_value(ua.Variant(left_ms, ua.VariantType.Double), _GOOD, now, now)


def _current(alarm: Alarm) -> tuple[AlarmEvent, uuid.UUID | None]:
    """The alarm's current state as an event, and the id of the event that announced it
    (None if it never changed: a fresh alarm is Normal and nothing announced it)."""
    last = alarm.last_event
    if last is None:
        # kind is not shown: no field tells it.
        at = alarm.changed_at or datetime.now(UTC)
        return alarm.describe(EventKind.QUALITY, at, None, None, uuid.uuid4()), None
    # The quality and value may have moved since the last event (a Normal alarm's quality
    # changes announce nothing), so the event is the alarm as it is, under the last id.
    return alarm.describe(last.kind, last.time, last.user, last.comment, last.id), last.id
