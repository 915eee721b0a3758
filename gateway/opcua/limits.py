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
  or `max_monitored_items_per_session` in its session with Bad_TooManyMonitoredItems (the
  items before it are created). Both are advertised
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

asyncua's client sessions, their services, connections and subscriptions are reached
through gateway.opcua.asyncua_internals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from asyncua import Server, ua
from asyncua.common.utils import ServiceError

from gateway.config.model import OpcuaSection
from gateway.opcua.asyncua_internals import (
    InternalSession,
    Service,
    client_session_count,
    limit_request_size,
    monitored_item_count,
    on_session_created,
    subscription_items,
    take_turns,
    wrap_session_service,
)
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
    limit_request_size(server, REQUEST_MAX_BYTES, _CHUNK_BYTES)
    _Limits(server, section).install()


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

    def __init__(self, server: Server, section: OpcuaSection) -> None:
        self._server = server
        self._section = section
        self._turns = _Turns()
        self._sessions_full = False
        self._items_full = False

    def install(self) -> None:
        take_turns(self._server, self._turns.message)
        on_session_created(
            self._server, self._bound, clients_only=True, admit=self._admit_session
        )

    def _admit_session(self) -> None:
        limit = self._section.max_sessions
        if client_session_count(self._server) < limit:
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
            wrap_session_service(
                session, name, lambda service: partial(_at_most, service, limit, field)
            )

        def paced(name: str, limit: int, field: str) -> None:
            wrap_session_service(
                session, name, lambda service: partial(self._one_by_one, service, field)
            )
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
        wrap_session_service(
            session, "create_monitored_items",
            lambda create: partial(self._create_items, session, create),
        )
        per_call("create_monitored_items", items, "ItemsToCreate")
        # close_session and DeleteSubscriptions both come here.
        wrap_session_service(
            session,
            "delete_subscriptions",
            lambda delete: partial(self._delete_subscriptions, delete),
        )

    async def _create_items(
        self, session: InternalSession, create: Service, params: ua.CreateMonitoredItemsParameters
    ) -> list[ua.MonitoredItemCreateResult]:
        """asyncua's CreateMonitoredItems an item at a time, within max_monitored_items and
        the session's max_monitored_items_per_session."""
        results: list[ua.MonitoredItemCreateResult] = []
        async with self._turns.paced() as pace:
            room = self._room(session)
            for item in params.ItemsToCreate:
                if await pace.step():
                    room = self._room(session)
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

    def _room(self, session: InternalSession) -> int:
        """Items the server and the session may still take."""
        section = self._section
        return min(
            section.max_monitored_items - monitored_item_count(self._server),
            section.max_monitored_items_per_session - monitored_item_count(self._server, session),
        )

    def _refuse_item(self) -> None:
        if not self._items_full:
            self._items_full = True
            logger.warning(
                "OPC UA monitored items refused (Bad_TooManyMonitoredItems): the server "
                "holds the %d [opcua] max_monitored_items allows, or a session the %d of "
                "max_monitored_items_per_session",
                self._section.max_monitored_items,
                self._section.max_monitored_items_per_session,
            )

    async def _delete_subscriptions(self, delete: Service, ids: list[int]) -> list[ua.StatusCode]:
        """asyncua's delete, after deleting the subscriptions' items a slice at a time
        (asyncua would delete them all in one pass)."""
        async with self._turns.paced() as pace:
            for subscription_id in ids:
                items = subscription_items(self._server, subscription_id)
                if items is None:
                    continue
                mids, delete_item = items
                for mid in mids:
                    await pace.step()
                    delete_item(mid)
        return await delete(ids)

    async def _one_by_one(self, service: Service, field: str, params: Any) -> list[Any]:
        """`service` called for one operation of `params.<field>` at a time, paced."""
        results: list[Any] = []
        async with self._turns.paced() as pace:
            for operation in getattr(params, field):
                await pace.step()
                results += await service(dataclasses.replace(params, **{field: [operation]}))
        return results


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



def _too_many() -> ua.MonitoredItemCreateResult:
    return ua.MonitoredItemCreateResult(
        StatusCode=make_status(ua.StatusCodes.BadTooManyMonitoredItems)
    )
