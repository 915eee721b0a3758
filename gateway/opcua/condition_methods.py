"""The methods clients call on conditions (Part 9): Acknowledge, ConditionRefresh,
ConditionRefresh2, TimedShelve, OneShotShelve and Unshelve of the ShelvingState, and the
Enable, Disable and AddComment every condition declares.

The callbacks are linked to the types' methods (AcknowledgeableConditionType_Acknowledge
i=9111, ConditionType_ConditionRefresh i=3875, ...); condition instances run what their
declarations run (gateway.opcua.condition_nodes), so a client may call Acknowledge by
the type's MethodId with the ConditionId as ObjectId, as Part 9 §5.7.3 requires, or by
the instance's own method. asyncua awaits a coroutine callback in the client's request
with the ObjectId and the input arguments as Variants; the arguments are checked here
(Part 4 §5.11.2), an acknowledgement's comment against the gateway's COMMENT_MAX. The
hub's acknowledge is synchronous and cheap: nothing here waits.

Each call needs the operator role (issue #14, gateway.opcua.access): a viewer's is refused
with Bad_UserAccessDenied. Acknowledgements and shelving go to the alarm hub as the web
page's do, under the session's user, and are recorded in the audit log (when the gateway
keeps one) as the page records its own.

Shelving (Part 9 §5.8.10, the ShelvedStateMachine): TimedShelve(ShelvingTime) shelves for
ShelvingTime milliseconds, at most MaxTimeShelved (gateway.alarms.MAX_TIME_SHELVED);
OneShotShelve until the alarm next clears, and at most MaxTimeShelved; Unshelve ends
either. The ObjectId is the condition's ShelvingState object (or the condition itself).

The gateway's conditions are always enabled, keep no comments but an acknowledgement's
and have no branches: Enable answers Bad_ConditionAlreadyEnabled, Disable and AddComment
Bad_NotSupported.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from asyncua import Server, ua

from gateway.alarms import COMMENT_MAX, MAX_TIME_SHELVED, AlarmError, StaleEventId
from gateway.opcua.access import caller_may
from gateway.opcua.asyncua_internals import caller_name, refresh_refusal
from gateway.opcua.audit import AuditTrail
from gateway.opcua.conditions import AlarmHandler, Conditions
from gateway.opcua.uatypes import make_status, standard_id
from web.users import Role

logger = logging.getLogger(__name__)

_V = ua.VariantType
_BYTES = frozenset({_V.ByteString})
_TEXT = frozenset({_V.LocalizedText, _V.Null})
# IntegerId is UInt32; asyncua's client sends a plain int as Int64 unless told otherwise.
_INTEGER = frozenset({_V.UInt32, _V.Int32, _V.Int64, _V.UInt64, _V.UInt16, _V.Int16})
# Duration is a Double; a client may send any number.
_DURATION = _INTEGER | {_V.Double, _V.Float}

MethodResult = ua.StatusCode | ua.CallMethodResult | list[ua.Variant]
Callback = Callable[..., Awaitable[MethodResult]]


class ConditionMethods:
    """The method callbacks, acting on `conditions` through the alarm handler."""

    def __init__(
        self,
        server: Server,
        conditions: Conditions,
        handler: AlarmHandler | None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._server = server
        self._conditions = conditions
        self._handler = handler
        self._audit = audit

    def link(self) -> None:
        """Link the callbacks to the standard types' methods."""
        server = self._server
        ids = ua.ObjectIds
        callbacks: Mapping[int, Callback] = {
            ids.AcknowledgeableConditionType_Acknowledge: self.acknowledge,
            ids.ConditionType_ConditionRefresh: self.condition_refresh,
            ids.ConditionType_ConditionRefresh2: self.condition_refresh2,
            ids.ConditionType_Enable: self.enable,
            ids.ConditionType_Disable: self.not_supported,
            ids.ConditionType_AddComment: self.not_supported,
            # The type's methods and AlarmConditionType's ShelvingState declarations, which
            # the condition instances' methods run (gateway.opcua.condition_nodes).
            ids.ShelvedStateMachineType_TimedShelve: self.timed_shelve,
            ids.AlarmConditionType_ShelvingState_TimedShelve: self.timed_shelve,
            ids.ShelvedStateMachineType_OneShotShelve: self.one_shot_shelve,
            ids.AlarmConditionType_ShelvingState_OneShotShelve: self.one_shot_shelve,
            ids.ShelvedStateMachineType_Unshelve: self.unshelve,
            ids.AlarmConditionType_ShelvingState_Unshelve: self.unshelve,
        }
        for method_id, callback in callbacks.items():
            server.link_method(server.get_node(standard_id(method_id)), _operators(callback))

    async def acknowledge(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """Acknowledge(EventId, Comment) of the condition `object_id` (Part 9 §5.7.3)."""
        name = self._conditions.name_of(object_id)
        if name is None or self._handler is None:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        checked = _arguments(args, (_BYTES, _TEXT))
        if isinstance(checked, ua.CallMethodResult):
            return checked
        event_id, comment = checked
        if not isinstance(event_id, bytes) or len(event_id) != 16:
            # Every EventId of ours is a UUID's 16 bytes (gateway.opcua.condition_fields).
            return make_status(ua.StatusCodes.BadEventIdUnknown)
        text = comment.Text if isinstance(comment, ua.LocalizedText) else None
        if text is not None and len(text) > COMMENT_MAX:
            # Stored with the alarm and published with its event: bounded as the MQTT
            # command bounds it (issue #17).
            logger.info(
                "OPC UA acknowledge of alarm %r refused: a comment of %d characters "
                "(at most %d)", name, len(text), COMMENT_MAX
            )
            return _refused_argument(1, len(args), ua.StatusCodes.BadOutOfRange)
        user = caller_name()
        try:
            self._handler.acknowledge(name, user, text or "", uuid.UUID(bytes=event_id))
        except KeyError:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        except StaleEventId as refused:
            logger.info("OPC UA acknowledge of alarm %r by %r refused: %s", name, user, refused)
            return make_status(ua.StatusCodes.BadEventIdUnknown)
        except AlarmError as refused:
            logger.info("OPC UA acknowledge of alarm %r by %r refused: %s", name, user, refused)
            return make_status(ua.StatusCodes.BadConditionBranchAlreadyAcked)
        logger.info("alarm %r acknowledged by %r over OPC UA", name, user)
        await self._record(user, "alarm acknowledged over OPC UA",
                           f"{name}: {text or ''}".rstrip(": "))
        return []

    async def timed_shelve(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """TimedShelve(ShelvingTime) of the ShelvingState `object_id` (Part 9 §5.8.10.4)."""
        target = self._shelving_target(object_id, ())
        if not isinstance(target, tuple):
            return target
        name, handler = target
        checked = _arguments(args, (_DURATION,))
        if isinstance(checked, ua.CallMethodResult):
            return checked
        shelving_ms = float(checked[0])
        if not 0 < shelving_ms <= MAX_TIME_SHELVED.total_seconds() * 1000.0:
            return make_status(ua.StatusCodes.BadShelvingTimeOutOfRange)
        if _shelved(handler, name, "timed"):
            return make_status(ua.StatusCodes.BadConditionAlreadyShelved)
        hours = shelving_ms / 3_600_000.0
        return await self._shelve(handler, name, timedelta(milliseconds=shelving_ms), False,
                                  f"{name} for {hours:g} h")

    async def one_shot_shelve(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """OneShotShelve of the ShelvingState `object_id` (Part 9 §5.8.10.5)."""
        target = self._shelving_target(object_id, args)
        if not isinstance(target, tuple):
            return target
        name, handler = target
        if _shelved(handler, name, "one-shot"):
            return make_status(ua.StatusCodes.BadConditionAlreadyShelved)
        return await self._shelve(handler, name, MAX_TIME_SHELVED, True,
                                  f"{name} until it clears (one-shot)")

    async def unshelve(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """Unshelve of the ShelvingState `object_id` (Part 9 §5.8.10.3)."""
        target = self._shelving_target(object_id, args)
        if not isinstance(target, tuple):
            return target
        name, handler = target
        user = caller_name()
        try:
            handler.unshelve(name, user)
        except KeyError:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        except AlarmError as refused:
            logger.info("OPC UA unshelve of alarm %r by %r refused: %s", name, user, refused)
            return make_status(ua.StatusCodes.BadConditionNotShelved)
        logger.info("alarm %r unshelved by %r over OPC UA", name, user)
        await self._record(user, "alarm unshelved over OPC UA", name)
        return []

    async def _shelve(
        self, handler: AlarmHandler, name: str, duration: timedelta, one_shot: bool, detail: str
    ) -> MethodResult:
        user = caller_name()
        try:
            handler.shelve(name, handler.now() + duration, user, "", one_shot=one_shot)
        except KeyError:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        except AlarmError as refused:
            logger.info("OPC UA shelve of alarm %r by %r refused: %s", name, user, refused)
            return make_status(ua.StatusCodes.BadShelvingTimeOutOfRange)
        logger.info("alarm %r shelved by %r over OPC UA: %s", name, user, detail)
        await self._record(user, "alarm shelved over OPC UA", detail)
        return []

    def _shelving_target(
        self, object_id: ua.NodeId, args: tuple[ua.Variant, ...]
    ) -> tuple[str, AlarmHandler] | MethodResult:
        """The alarm a shelving method acts on and the handler, or the refusal to return
        (`args`: those of a method without input arguments)."""
        # Part 9 calls the shelving methods on the ShelvingState object; the condition
        # itself is taken too.
        name = self._conditions.shelving_name_of(object_id) or self._conditions.name_of(
            object_id
        )
        if name is None or self._handler is None:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        checked = _arguments(args, ())
        return checked if isinstance(checked, ua.CallMethodResult) else (name, self._handler)

    async def _record(self, user: str, action: str, detail: str) -> None:
        if self._audit is not None:
            await self._audit.record(user, action, detail)

    async def condition_refresh(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """ConditionRefresh(SubscriptionId) (Part 9 §5.5.7)."""
        checked = _arguments(args, (_INTEGER,))
        if isinstance(checked, ua.CallMethodResult):
            return checked
        return await self._refresh(int(checked[0]), None)

    async def condition_refresh2(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """ConditionRefresh2(SubscriptionId, MonitoredItemId) (Part 9 §5.5.8)."""
        checked = _arguments(args, (_INTEGER, _INTEGER))
        if isinstance(checked, ua.CallMethodResult):
            return checked
        return await self._refresh(int(checked[0]), int(checked[1]))

    async def enable(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """Enable (Part 9 §5.5.5): the gateway's conditions are never disabled."""
        if self._conditions.name_of(object_id) is None:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        return make_status(ua.StatusCodes.BadConditionAlreadyEnabled)

    async def not_supported(self, object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        """Disable and AddComment: not offered."""
        if self._conditions.name_of(object_id) is None:
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        return make_status(ua.StatusCodes.BadNotSupported)

    async def _refresh(self, subscription_id: int, item_id: int | None) -> MethodResult:
        refused = refresh_refusal(self._server, subscription_id, item_id)
        if refused is not None:
            return make_status(refused)
        retained = self._handler.retained() if self._handler is not None else []
        await self._conditions.refresh(retained, subscription_id, item_id)
        return []


def _shelved(handler: AlarmHandler, name: str, how: str) -> bool:
    """Whether the alarm is already shelved `how` (Bad_ConditionAlreadyShelved; moving
    between timed and one-shot is allowed, Part 9 §5.8.10.1)."""
    try:
        return handler.shelving(name) == how
    except KeyError:
        return False  # the shelve answers it


def _operators(callback: Callback) -> Callback:
    """`callback` for callers with the operator role; Bad_UserAccessDenied for others."""

    async def checked(object_id: ua.NodeId, *args: ua.Variant) -> MethodResult:
        if not caller_may(Role.OPERATOR):
            logger.info("OPC UA method call on %s by %r refused: operators call it",
                        object_id.to_string(), caller_name())
            return make_status(ua.StatusCodes.BadUserAccessDenied)
        return await callback(object_id, *args)

    return checked


def _arguments(
    args: tuple[ua.Variant, ...], expected: tuple[frozenset[ua.VariantType], ...]
) -> list[Any] | ua.CallMethodResult:
    """The arguments' values if their number and types are the expected ones, else the
    refusal to return (Part 4 §5.11.2)."""
    if len(args) != len(expected):
        code = (
            ua.StatusCodes.BadArgumentsMissing
            if len(args) < len(expected)
            else ua.StatusCodes.BadTooManyArguments
        )
        return ua.CallMethodResult(StatusCode=make_status(code))
    results = [
        make_status(
            ua.StatusCodes.Good if arg.VariantType in allowed else ua.StatusCodes.BadTypeMismatch
        )
        for arg, allowed in zip(args, expected, strict=True)
    ]
    if any(not result.is_good() for result in results):
        return _invalid(results)
    return [arg.Value for arg in args]


def _refused_argument(index: int, count: int, code: int) -> ua.CallMethodResult:
    """Bad_InvalidArgument, argument `index` of `count` refused with `code`."""
    return _invalid(
        [make_status(code if i == index else ua.StatusCodes.Good) for i in range(count)]
    )


def _invalid(results: list[ua.StatusCode]) -> ua.CallMethodResult:
    return ua.CallMethodResult(
        StatusCode=make_status(ua.StatusCodes.BadInvalidArgument), InputArgumentResults=results
    )
