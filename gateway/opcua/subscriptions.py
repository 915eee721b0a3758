"""What Alarms & Conditions need from asyncua's server-side subscriptions and sessions.

Checked against asyncua 2.1 (pinned in pyproject.toml); every use of asyncua's server
internals by the conditions is in this module:

- Events: asyncua hands an event only to the monitored items on its `emitting_node`
  (`MonitoredItemService.trigger_event`), and its own ConditionRefresh sends the refresh
  bracket through the where clause. Part 9 wants an event to reach every notifier above
  its source (the HasNotifier hierarchy) and the bracket to reach every event item of the
  subscription regardless of its filter (§4.5), so `deliver` walks the subscriptions'
  event items itself (`SubscriptionService.subscriptions`,
  `MonitoredItemService._monitored_events` and `_monitored_items`), applies the item's
  where clause with asyncua's own evaluator (`MonitoredItemData.where_clause_evaluator`,
  which reads `event.EventType` and `getattr(event, <first path element>)`) and queues
  the selected fields with `InternalSubscription.enqueue_event`.
- The calling session: asyncua calls a method's callback with the ObjectId and the
  input arguments only (`MethodService._run_method`). Part 9 needs the caller: the
  acknowledging user, and the session that must own a refreshed subscription (§5.5.7).
  `track_callers` wraps `InternalServer.create_session`, which `UaProcessor` calls for
  every client session, so that the session's `call` records itself in a context
  variable that the callback, awaited in the same task, reads.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Collection, Mapping
from functools import partial
from typing import Any

from asyncua import ua
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemData

_CALLER: contextvars.ContextVar[InternalSession | None] = contextvars.ContextVar(
    "opcua_caller", default=None
)
_NULL = ua.Variant(None, ua.VariantType.Null)
_DISABLED = ua.MonitoringMode.Disabled

ANONYMOUS = "anonymous"


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


async def deliver(
    iserver: InternalServer,
    event: FieldEvent,
    notifiers: Collection[ua.NodeId] | None,
    *,
    subscription_id: int | None = None,
    item_id: int | None = None,
    filtered: bool = True,
) -> None:
    """Queue `event` for the event items on `notifiers` (None: on any node).

    Only the subscription `subscription_id` and its item `item_id`, if given. With
    `filtered` False the items' where clauses are skipped (the refresh bracket).
    """
    targets: list[tuple[InternalSubscription, int, MonitoredItemData]] = []
    for subscription in _subscriptions(iserver, subscription_id):
        for mid, item in _event_items(subscription, notifiers):
            # asyncua queues events for Disabled items too; Part 4 (MonitoringMode) says not to.
            if (item_id is not None and mid != item_id) or item.mode == _DISABLED:
                continue
            evaluator = item.where_clause_evaluator
            if filtered and evaluator is not None and not evaluator.eval(event):
                continue
            targets.append((subscription, mid, item))
    # Collected first: queueing may publish (a 0 ms subscription), and so yield.
    for subscription, mid, item in targets:
        fields = ua.EventFieldList(
            ClientHandle=item.client_handle,  # type: ignore[arg-type]
            EventFields=event.select(item.filter.SelectClauses),
        )
        await subscription.enqueue_event(mid, fields, item.queue_size)


def refusal(iserver: InternalServer, subscription_id: int, item_id: int | None) -> int | None:
    """Why a ConditionRefresh(2) of this subscription (and item) is refused, or None.

    Part 9 §5.5.7: the subscription must be the calling session's, and hold an event item.
    """
    subscription = iserver.subscription_service.subscriptions.get(subscription_id)
    caller = _CALLER.get()
    if subscription is None or (
        caller is not None and subscription.session_id != caller.session_id
    ):
        return ua.StatusCodes.BadSubscriptionIdInvalid
    items = dict(_event_items(subscription, None))
    if item_id is not None and item_id not in items:
        return ua.StatusCodes.BadMonitoredItemIdInvalid
    if not items:
        return ua.StatusCodes.BadNothingToDo
    return None


def caller_name() -> str:
    """The user identity of the session calling the current method, or "anonymous"."""
    caller = _CALLER.get()
    name = caller.user.name if caller is not None else None
    return name or ANONYMOUS


def track_callers(iserver: InternalServer) -> None:
    """Make every client session record itself while its Call request runs."""
    stock = iserver.create_session

    def create_session(*args: Any, **kwargs: Any) -> InternalSession:
        session = stock(*args, **kwargs)
        session.call = partial(_call_as, session, session.call)  # type: ignore[method-assign]
        return session

    iserver.create_session = create_session  # type: ignore[method-assign]


async def _call_as(
    session: InternalSession,
    call: Callable[[list[ua.CallMethodRequest]], Awaitable[list[ua.CallMethodResult]]],
    params: list[ua.CallMethodRequest],
) -> list[ua.CallMethodResult]:
    token = _CALLER.set(session)
    try:
        return await call(params)
    finally:
        _CALLER.reset(token)


def _subscriptions(
    iserver: InternalServer, subscription_id: int | None
) -> list[InternalSubscription]:
    subscriptions = iserver.subscription_service.subscriptions
    if subscription_id is None:
        return list(subscriptions.values())
    subscription = subscriptions.get(subscription_id)
    return [] if subscription is None else [subscription]


def _event_items(
    subscription: InternalSubscription, notifiers: Collection[ua.NodeId] | None
) -> list[tuple[int, MonitoredItemData]]:
    """The event items of a subscription on `notifiers` (None: on any node)."""
    service = subscription.monitored_item_srv
    items = service._monitored_items
    found: list[tuple[int, MonitoredItemData]] = []
    for node, mids in service._monitored_events.items():
        if notifiers is not None and node not in notifiers:
            continue
        for mid in mids:
            item = items.get(mid)
            if item is not None:
                found.append((mid, item))
    return found
