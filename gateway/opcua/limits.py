"""What OPC UA clients may ask of the server: bounded, so that no client starves the
gateway (issue #17: 200 anonymous sessions with 10,000 monitored items each were all
accepted, the process grew from 200 MB to 2.96 GB and polling fell from 60 to 6-11 per
minute while the items were created).

- Per call (Part 4 §5.1, Part 5 §6.3.11 OperationLimits): a Read, Write, Browse,
  TranslateBrowsePathsToNodeIds, Call, HistoryRead or NodeManagement request naming more
  than `max_nodes_per_call` operations, and a Create/Modify/DeleteMonitoredItems or
  SetMonitoringMode request naming more than `max_monitored_items_per_call` items, is
  refused whole with Bad_TooManyOperations. The limits are advertised in
  Server/ServerCapabilities/OperationLimits, where clients read them to split their calls.
- In total: a CreateSession beyond `max_sessions` open sessions is refused with
  Bad_TooManySessions, a monitored item beyond `max_monitored_items` on the whole server
  with Bad_TooManyMonitoredItems (the items before it are created). Both are advertised
  in ServerCapabilities (MaxSessions, MaxMonitoredItems).
- Paced: asyncua handles a call's monitored items in one synchronous pass (creating one
  costs about 0.1 ms, mostly a deep copy of its first value; deleting or modifying one
  scans the subscription's items, so 1,000 deletions in a subscription of 50,000 cost
  seconds), and deletes a closing session's items all at once. Here they go one at a
  time, in slices of `SLICE_S` that the sessions take in turns, so poll loops and
  publishing run between slices (a call of 10,000 items held the loop 1.7 s before).
  Request messages take turns too: asyncua decodes a message whole before anything here
  sees it.
- A request message may be at most `REQUEST_MAX_BYTES`: asyncua decodes a whole request
  before any of the above sees it, and accepts 100 MB by default (some two million
  monitored items, minutes of decoding).

asyncua 2.1 internals used here (pinned in pyproject.toml): the server's `limits`
(TransportLimits), `InternalServer.create_session` (wrapped, as
gateway.opcua.subscriptions also does), the `InternalSession` service methods that
`UaProcessor` and `close_session` call (replaced on each client session by bounded
ones), `InternalServer.asyncio_transports` and `OPCUAProtocol._process_one_msg` (each
connection's messages, made to take turns), `InternalServer._external_sessions` (the
open client sessions),
`SubscriptionService.subscriptions` and `MonitoredItemService._monitored_items` (a
subscription's items).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.common.utils import ServiceError
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession

from gateway.config.model import OpcuaSection
from gateway.opcua.uatypes import make_status, standard_id

logger = logging.getLogger(__name__)

# How long paced work holds the event loop before it yields: a tenth of the shortest
# poll interval worth having, and a few hundred items created (bench/opcua_limits.py).
SLICE_S = 0.01
# A request of 1,000 monitored items with string NodeIds takes about 50 kB, a Write of
# 1,000 of the longest string tags 0.5 MB; asyncua decodes the densest requests at about
# a megabyte a second here, so 1 MiB keeps the worst decode near a second where asyncua's
# 100 MB allowed minutes.
REQUEST_MAX_BYTES = 1024 * 1024
_CHUNK_BYTES = 65535  # asyncua's receive buffer, the size of one message chunk

Service = Callable[[Any], Awaitable[Any]]
_OPERATIONS = "Server_ServerCapabilities_OperationLimits_"


def advertised(section: OpcuaSection) -> dict[int, int]:
    """The ServerCapabilities variables (NodeId numbers) and the values they show.

    RegisterNodes and HistoryUpdate show 0, no limit: asyncua echoes the NodeIds of a
    RegisterNodes without work, and does not serve HistoryUpdate.
    """
    nodes = section.max_nodes_per_call
    values = {
        "MaxNodesPerRead": nodes,
        "MaxNodesPerWrite": nodes,
        "MaxNodesPerBrowse": nodes,
        "MaxNodesPerTranslateBrowsePathsToNodeIds": nodes,
        "MaxNodesPerMethodCall": nodes,
        "MaxNodesPerHistoryReadData": nodes,
        "MaxNodesPerHistoryReadEvents": nodes,
        "MaxNodesPerNodeManagement": nodes,
        "MaxMonitoredItemsPerCall": section.max_monitored_items_per_call,
        "MaxNodesPerRegisterNodes": 0,
        "MaxNodesPerHistoryUpdateData": 0,
        "MaxNodesPerHistoryUpdateEvents": 0,
    }
    found = {getattr(ua.ObjectIds, _OPERATIONS + name): value for name, value in values.items()}
    found[ua.ObjectIds.Server_ServerCapabilities_MaxSessions] = section.max_sessions
    found[ua.ObjectIds.Server_ServerCapabilities_MaxMonitoredItems] = section.max_monitored_items
    return found


async def apply_limits(server: Server, section: OpcuaSection) -> None:
    """Advertise the limits and enforce them on every client session; before `start`."""
    for node_id, value in advertised(section).items():
        await server.get_node(standard_id(node_id)).write_value(
            ua.Variant(value, ua.VariantType.UInt32)
        )
    server.limits = TransportLimits(
        max_recv_buffer=_CHUNK_BYTES,
        max_send_buffer=_CHUNK_BYTES,
        max_chunk_count=math.ceil(REQUEST_MAX_BYTES / _CHUNK_BYTES),
        max_message_size=REQUEST_MAX_BYTES,
    )
    _Limits(server.iserver, section).install()


class _Turns:
    """Clients take turns, server-wide, so that many of them working at once cost the poll
    loops one slice per turn of the event loop, not one each (asyncio runs every ready
    task before it looks at its timers, where the poll loops wait):

    - paced work goes one slice at a time;
    - a request message starts (asyncua decodes it whole, about 25 ms for 1,000
      monitored items) at most once per turn of the loop.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._head = asyncio.Lock()

    async def message(self, process: Callable[..., Awaitable[bool]], *args: Any) -> bool:
        """Process one request message when its turn comes."""
        await self._head.acquire()
        # Held into the next turn of the loop: a message waiting behind this one starts
        # in the turn after, once the poll loops' timers have been looked at.
        asyncio.get_running_loop().call_soon(self._head.release)
        return await process(*args)

    @asynccontextmanager
    async def paced(self) -> AsyncIterator[_Pace]:
        pace = _Pace(self._lock)
        await pace.take()
        try:
            yield pace
        finally:
            pace.leave()


class _Pace:
    """A turn of paced work: yields once SLICE_S has passed since it took the turn."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        self._until = 0.0
        self._held = False

    async def take(self) -> None:
        await self._lock.acquire()
        self._held = True
        self._until = self._loop.time() + SLICE_S

    def leave(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    async def step(self) -> bool:
        """Give the turn away if the slice is used up, and wait for it again; whether it
        did (other sessions may then have changed what the caller counted)."""
        if self._loop.time() < self._until:
            return False
        self.leave()
        await asyncio.sleep(0)
        await self.take()
        return True


class _Limits:
    """The limits of one server; says once when a total is reached, not at every refusal."""

    def __init__(self, iserver: InternalServer, section: OpcuaSection) -> None:
        self._iserver = iserver
        self._section = section
        self._turns = _Turns()
        self._sessions_full = False
        self._items_full = False

    def install(self) -> None:
        self._iserver.asyncio_transports = _Connections(self._turns)
        stock = self._iserver.create_session

        def create_session(*args: Any, **kwargs: Any) -> InternalSession:
            # UaProcessor creates every client session with external=True, by keyword.
            external = bool(kwargs.get("external"))
            if external:
                self._admit_session()
            session = stock(*args, **kwargs)
            if external:
                self._bound(session)
            return session

        self._iserver.create_session = create_session  # type: ignore[method-assign]

    def _admit_session(self) -> None:
        limit = self._section.max_sessions
        if len(self._iserver._external_sessions) < limit:
            self._sessions_full = False
            return
        if not self._sessions_full:
            self._sessions_full = True
            logger.warning(
                "OPC UA sessions refused (Bad_TooManySessions): %d are open, the most "
                "[opcua] max_sessions allows",
                limit,
            )
        raise ServiceError(ua.StatusCodes.BadTooManySessions)

    def _bound(self, session: InternalSession) -> None:
        """Replace the session's services with ones that keep to the limits."""
        nodes = self._section.max_nodes_per_call
        items = self._section.max_monitored_items_per_call

        def per_call(name: str, limit: int, field: str | None) -> None:
            service: Service = getattr(session, name)
            setattr(session, name, partial(_at_most, service, limit, field))

        def paced(name: str, limit: int, field: str) -> None:
            service: Service = getattr(session, name)
            setattr(session, name, partial(self._one_by_one, service, field))
            per_call(name, limit, field)

        per_call("read", nodes, "NodesToRead")
        per_call("write", nodes, "NodesToWrite")
        per_call("browse", nodes, "NodesToBrowse")
        per_call("translate_browsepaths_to_nodeids", nodes, None)
        per_call("call", nodes, None)
        per_call("history_read", nodes, "NodesToRead")
        per_call("add_nodes", nodes, None)
        per_call("delete_nodes", nodes, "NodesToDelete")
        per_call("add_references", nodes, None)
        per_call("delete_references", nodes, None)
        paced("modify_monitored_items", items, "ItemsToModify")
        paced("delete_monitored_items", items, "MonitoredItemIds")
        paced("set_monitoring_mode", items, "MonitoredItemIds")
        session.create_monitored_items = partial(  # type: ignore[method-assign]
            self._create_items, session.create_monitored_items
        )
        per_call("create_monitored_items", items, "ItemsToCreate")
        # close_session and DeleteSubscriptions both come here.
        session.delete_subscriptions = partial(  # type: ignore[method-assign]
            self._delete_subscriptions, session.delete_subscriptions
        )

    async def _create_items(
        self, create: Service, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        """asyncua's CreateMonitoredItems an item at a time, within max_monitored_items."""
        limit = self._section.max_monitored_items
        results: list[ua.MonitoredItemCreateResult] = []
        async with self._turns.paced() as pace:
            room = limit - _monitored_items(self._iserver)
            for item in params.ItemsToCreate:
                if await pace.step():
                    room = limit - _monitored_items(self._iserver)
                if room <= 0:
                    self._refuse_item()
                    results.append(_too_many())
                    continue
                [result] = await create(dataclasses.replace(params, ItemsToCreate=[item]))
                if result.StatusCode.is_good():
                    room -= 1
                    self._items_full = False
                results.append(result)
        return results

    def _refuse_item(self) -> None:
        if not self._items_full:
            self._items_full = True
            logger.warning(
                "OPC UA monitored items refused (Bad_TooManyMonitoredItems): the server "
                "holds the %d [opcua] max_monitored_items allows",
                self._section.max_monitored_items,
            )

    async def _delete_subscriptions(self, delete: Service, ids: list[int]) -> list[ua.StatusCode]:
        """asyncua's delete, after deleting the subscriptions' items a slice at a time
        (asyncua would delete them all in one pass)."""
        subscriptions = self._iserver.subscription_service.subscriptions
        async with self._turns.paced() as pace:
            for subscription_id in ids:
                subscription = subscriptions.get(subscription_id)
                if subscription is None:
                    continue
                service = subscription.monitored_item_srv
                # In creation order, which asyncua's item lookups find first.
                for mid in list(service._monitored_items):
                    await pace.step()
                    service.delete_monitored_items([mid])
        return await delete(ids)

    async def _one_by_one(self, service: Service, field: str, params: Any) -> list[Any]:
        """`service` called for one operation of `params.<field>` at a time, paced."""
        results: list[Any] = []
        async with self._turns.paced() as pace:
            for operation in getattr(params, field):
                await pace.step()
                results += await service(dataclasses.replace(params, **{field: [operation]}))
        return results


class _Connections(list[Any]):
    """InternalServer.asyncio_transports, to which asyncua's OPCUAProtocol adds its
    transport when a client connects, before it starts processing the client's messages:
    here each message of the connection is made to wait for its turn."""

    def __init__(self, turns: _Turns) -> None:
        super().__init__()
        self._turns = turns

    def append(self, transport: Any) -> None:
        protocol = transport.get_protocol()
        # OPCUAProtocol._process_received_message_loop calls this for every message.
        protocol._process_one_msg = partial(self._turns.message, protocol._process_one_msg)
        super().append(transport)


async def _at_most(service: Service, limit: int, field: str | None, params: Any) -> Any:
    """`service(params)` unless it names more than `limit` operations (in `params.<field>`,
    or `params` itself when `field` is None)."""
    count = len(params if field is None else getattr(params, field))
    if count > limit:
        # Part 4 §7.34: Bad_TooManyOperations, "the request specified too many operations".
        # The client is told; a log line per refused call would let it flood the log.
        logger.debug("OPC UA request with %d operations refused (at most %d)", count, limit)
        raise ServiceError(ua.StatusCodes.BadTooManyOperations)
    return await service(params)


def _monitored_items(iserver: InternalServer) -> int:
    subscriptions = iserver.subscription_service.subscriptions.values()
    return sum(len(sub.monitored_item_srv._monitored_items) for sub in subscriptions)


def _too_many() -> ua.MonitoredItemCreateResult:
    return ua.MonitoredItemCreateResult(
        StatusCode=make_status(ua.StatusCodes.BadTooManyMonitoredItems)
    )
