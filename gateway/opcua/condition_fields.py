"""What a condition's events carry and its variables hold, from an AlarmEvent.

Fields are named by their browse path below the condition joined with "/", as a select
clause spells them ("ActiveState/Id"): the same map is the event a client receives and
the values of the condition's variables (gateway.opcua.condition_nodes), so the two
cannot disagree.

Type mapping (Part 9 v1.04 §5.8): "above" and "below" are ExclusiveLevelAlarmType with the
HighLimit or LowLimit property and LimitState High or Low while active (§5.8.12.3:
null while inactive); "true" is OffNormalAlarmType, whose NormalState is null because no
variable holds the normal value (false). Alarms on asset outputs are of the maintenance
condition class, alarms on device tags of the process class.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asyncua import ua

from gateway.alarms import MAX_TIME_SHELVED, AlarmEvent, AlarmRule, AlarmState, Condition
from gateway.opcua.status import status_code
from gateway.opcua.uatypes import standard_id

_V = ua.VariantType
_NULL = ua.Variant(None, _V.Null)
_EXCLUSIVE_LEVEL = standard_id(ua.ObjectIds.ExclusiveLevelAlarmType)
_OFF_NORMAL = standard_id(ua.ObjectIds.OffNormalAlarmType)
_ENABLED = ua.LocalizedText("Enabled")
_ACTIVE = {True: ua.LocalizedText("Active"), False: ua.LocalizedText("Inactive")}
_ACKED = {True: ua.LocalizedText("Acknowledged"), False: ua.LocalizedText("Unacknowledged")}
# ShelvingState/CurrentState and its Id by (shelved, one_shot) (Part 9 §5.8.10).
_SHELVING = {
    (False, False): (ua.LocalizedText("Unshelved"), ua.ObjectIds.ShelvedStateMachineType_Unshelved),
    (True, False): (
        ua.LocalizedText("TimedShelved"), ua.ObjectIds.ShelvedStateMachineType_TimedShelved
    ),
    (True, True): (
        ua.LocalizedText("OneShotShelved"), ua.ObjectIds.ShelvedStateMachineType_OneShotShelved
    ),
}
_MAX_TIME_SHELVED_MS = MAX_TIME_SHELVED.total_seconds() * 1000.0


@dataclass(frozen=True, slots=True)
class Limit:
    """The limit property of a level alarm and the LimitState it is in while active."""

    field: str  # "HighLimit" or "LowLimit"
    state: ua.LocalizedText
    state_id: ua.NodeId


_LIMITS = {
    Condition.ABOVE: Limit(
        "HighLimit",
        ua.LocalizedText("High"),
        standard_id(ua.ObjectIds.ExclusiveLimitStateMachineType_High),
    ),
    Condition.BELOW: Limit(
        "LowLimit",
        ua.LocalizedText("Low"),
        standard_id(ua.ObjectIds.ExclusiveLimitStateMachineType_Low),
    ),
}
# Null while the alarm is inactive (Part 9 §5.8.12.3); a read says Bad_StateNotActive.
SUBSTATE_FIELDS = frozenset({"LimitState/CurrentState", "LimitState/CurrentState/Id"})
_CLASSES = {
    True: (standard_id(ua.ObjectIds.MaintenanceConditionClassType), "Maintenance"),
    False: (standard_id(ua.ObjectIds.ProcessConditionClassType), "Process"),
}


@dataclass(frozen=True, slots=True)
class ConditionIdentity:
    """What a condition's events share: its type, source and configuration."""

    nodeid: ua.NodeId  # the ConditionId
    name: str
    event_type: ua.NodeId
    source_node: ua.NodeId
    source_name: str
    input_node: ua.NodeId  # the variable of the alarm's source; null if not in the server
    class_id: ua.NodeId
    class_name: ua.LocalizedText
    message: ua.LocalizedText
    limit: Limit | None
    limit_value: float | None

    @property
    def optional(self) -> tuple[str, ...]:
        """The optional InstanceDeclarations the condition's node needs."""
        shelving = ("ShelvingState", "MaxTimeShelved")
        return shelving if self.limit is None else (*shelving, self.limit.field)


def identity(
    rule: AlarmRule,
    nodeid: ua.NodeId,
    source_node: ua.NodeId,
    source_name: str,
    input_node: ua.NodeId,
    maintenance: bool,
) -> ConditionIdentity:
    """The identity of the condition of `rule`, below the object `source_node`."""
    class_id, class_name = _CLASSES[maintenance]
    limit = _LIMITS.get(rule.condition)
    return ConditionIdentity(
        nodeid=nodeid,
        name=rule.name,
        event_type=_OFF_NORMAL if limit is None else _EXCLUSIVE_LEVEL,
        source_node=source_node,
        source_name=source_name,
        input_node=input_node,
        class_id=class_id,
        class_name=ua.LocalizedText(class_name),
        message=ua.LocalizedText(rule.message or default_message(rule)),
        limit=limit,
        limit_value=rule.limit,
    )


def default_message(rule: AlarmRule) -> str:
    """The message of an alarm configured without one."""
    if rule.condition is Condition.TRUE:
        return f"{rule.name}: {rule.source} is true"
    return f"{rule.name}: {rule.source} {rule.condition} {rule.limit:g}"


@dataclass(frozen=True, slots=True)
class Note:
    """The latest operator comment on a condition (Part 9 §5.5.2: Comment and
    ClientUserId keep the last one given, whatever happened since)."""

    text: str
    user: str
    time: datetime

    @classmethod
    def of(cls, event: AlarmEvent) -> Note | None:
        """The note an operator's action left; None for the gateway's own transitions
        (a shelving that expired is commented, but by nobody)."""
        if event.user is None:
            return None
        return cls(event.comment or "", event.user, event.time)


def fields(
    condition: ConditionIdentity,
    event: AlarmEvent,
    received: datetime,
    note: Note | None,
    event_id: uuid.UUID | None,
) -> dict[str, ua.Variant]:
    """The fields of `event` on `condition`, received at `received`; `event_id` None
    for a state that no event announced yet (a condition that never changed)."""
    time = ua.Variant(event.time, _V.DateTime)
    severity = ua.Variant(event.severity, _V.UInt16)
    values = {
        "EventId": ua.Variant(None if event_id is None else event_id.bytes, _V.ByteString),
        "EventType": ua.Variant(condition.event_type, _V.NodeId),
        "SourceNode": ua.Variant(condition.source_node, _V.NodeId),
        "SourceName": ua.Variant(condition.source_name, _V.String),
        "Time": time,
        "ReceiveTime": ua.Variant(received, _V.DateTime),
        "Message": ua.Variant(condition.message, _V.LocalizedText),
        "Severity": severity,
        "ConditionClassId": ua.Variant(condition.class_id, _V.NodeId),
        "ConditionClassName": ua.Variant(condition.class_name, _V.LocalizedText),
        "ConditionName": ua.Variant(condition.name, _V.String),
        "BranchId": ua.Variant(ua.NodeId(), _V.NodeId),  # no branches are kept
        "Retain": ua.Variant(event.state is not AlarmState.NORMAL, _V.Boolean),
        "EnabledState": ua.Variant(_ENABLED, _V.LocalizedText),
        "EnabledState/Id": ua.Variant(True, _V.Boolean),
        "Quality": ua.Variant(status_code(event.quality), _V.StatusCode),
        "Quality/SourceTimestamp": time,
        # A rule's severity never changes, so the last one is the current one.
        "LastSeverity": severity,
        "LastSeverity/SourceTimestamp": time,
        "Comment": ua.Variant(ua.LocalizedText(note.text if note else None), _V.LocalizedText),
        # asyncua cannot encode a DateTime Variant holding None: a null one is Null.
        "Comment/SourceTimestamp": ua.Variant(note.time, _V.DateTime) if note else _NULL,
        "ClientUserId": ua.Variant(note.user if note else None, _V.String),
        "AckedState": ua.Variant(_ACKED[event.acked], _V.LocalizedText),
        "AckedState/Id": ua.Variant(event.acked, _V.Boolean),
        "ActiveState": ua.Variant(_ACTIVE[event.active], _V.LocalizedText),
        "ActiveState/Id": ua.Variant(event.active, _V.Boolean),
        "InputNode": ua.Variant(condition.input_node, _V.NodeId),
        "SuppressedOrShelved": ua.Variant(event.shelved, _V.Boolean),
        "MaxTimeShelved": ua.Variant(_MAX_TIME_SHELVED_MS, _V.Double),
        **_shelving(event),
    }
    limit = condition.limit
    if limit is None:
        values["NormalState"] = ua.Variant(ua.NodeId(), _V.NodeId)
    else:
        values[limit.field] = ua.Variant(condition.limit_value, _V.Double)
        active = event.active
        values["LimitState/CurrentState"] = (
            ua.Variant(limit.state, _V.LocalizedText) if active else _NULL
        )
        values["LimitState/CurrentState/Id"] = (
            ua.Variant(limit.state_id, _V.NodeId) if active else _NULL
        )
    return values


def _shelving(event: AlarmEvent) -> dict[str, ua.Variant]:
    """ShelvingState's fields; UnshelveTime is the time left as of the event (a Read of the
    variable counts it down: gateway.opcua.conditions)."""
    until = shelving_end(event)
    state, state_id = _SHELVING[until is not None, until is not None and event.one_shot]
    return {
        "ShelvingState/CurrentState": ua.Variant(state, _V.LocalizedText),
        "ShelvingState/CurrentState/Id": ua.Variant(standard_id(state_id), _V.NodeId),
        "ShelvingState/UnshelveTime": ua.Variant(unshelve_time_ms(until, event.time), _V.Double),
    }


def shelving_end(event: AlarmEvent) -> datetime | None:
    """When the shelving `event` shows ends at the latest; None if it shows none."""
    return event.shelved_until if event.shelved else None


def unshelve_time_ms(until: datetime | None, at: datetime) -> float:
    """UnshelveTime at `at`: milliseconds until a shelving ending at `until` ends; 0 when
    not shelved (Part 9 §5.8.10.2)."""
    if until is None:
        return 0.0
    return max(0.0, (until - at).total_seconds() * 1000.0)


def system_event_fields(
    event_type: int, source_node: ua.NodeId, time: datetime, message: str
) -> dict[str, ua.Variant]:
    """The fields of a server event (RefreshStartEvent, RefreshEndEvent)."""
    return {
        "EventId": ua.Variant(uuid.uuid4().bytes, _V.ByteString),
        "EventType": ua.Variant(standard_id(event_type), _V.NodeId),
        "SourceNode": ua.Variant(source_node, _V.NodeId),
        "SourceName": ua.Variant("Server", _V.String),
        "Time": ua.Variant(time, _V.DateTime),
        "ReceiveTime": ua.Variant(time, _V.DateTime),
        "Message": ua.Variant(ua.LocalizedText(message), _V.LocalizedText),
        "Severity": ua.Variant(1, _V.UInt16),
    }


class FieldEvent:
    """An event as asyncua's where-clause evaluator reads one: its fields by path.

    `fields` are keyed by the select clause's BrowsePath joined with "/" ("ActiveState/Id");
    `condition_id` answers a select clause on the NodeId attribute with no path (Part 9
    §5.5.2: the ConditionId), and is None for events that are not a condition's.
    """

    def __init__(self, fields: Mapping[str, ua.Variant], condition_id: ua.NodeId | None) -> None:
        self.fields = fields
        self.condition_id = condition_id

    def __getattr__(self, name: str) -> Any:
        # asyncua's evaluator reads `event.EventType` and `getattr(event, name)`.
        try:
            return self.fields[name].Value
        except KeyError:
            raise AttributeError(name) from None

    def select(self, clauses: list[ua.SimpleAttributeOperand]) -> list[ua.Variant]:
        """The fields a filter selects, in its order; null for what this event lacks."""
        return [self._selected(clause) for clause in clauses]

    def _selected(self, clause: ua.SimpleAttributeOperand) -> ua.Variant:
        if not clause.BrowsePath:
            if clause.AttributeId == ua.AttributeIds.NodeId and self.condition_id is not None:
                return ua.Variant(self.condition_id, ua.VariantType.NodeId)
            return _NULL
        if clause.AttributeId != ua.AttributeIds.Value:
            return _NULL
        return self.fields.get("/".join(name.Name or "" for name in clause.BrowsePath), _NULL)
