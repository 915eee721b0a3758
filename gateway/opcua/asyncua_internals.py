"""asyncua's server internals: the one module of the gateway that reaches them.

The gateway uses parts of asyncua 2.1 (pinned in pyproject.toml) that are not its public
API, each measured or required by the spec where it is used:

- the lean data-change path (gateway.opcua.notify): a stored value is queued straight
  into each subscription's notification queue, pre-encoded, instead of asyncua's
  coroutine and deep copy per monitored item (`stock_item_service`, `data_change_item`,
  `is_live`, `accept`, `send_encoded`, `enqueue`), and sent in PublishResponses encoded
  by gateway.opcua.encoding instead of asyncua's generic serializer (`_forward_encoded`);
- client writes (gateway.opcua.writes): the server's attribute service is replaced, the
  only hook whose StatusCode reaches the client (`replace_attribute_service`);
- Alarms & Conditions (gateway.opcua.conditions): events reach every event item of the
  notifier hierarchy, and method callbacks learn the calling session (`deliver`,
  `refresh_refusal`, `track_callers`, `caller_name`);
- the limits of issue #17 (gateway.opcua.limits): client sessions are wrapped, their
  services bounded and paced, request messages take turns (`on_session_created`,
  `wrap_session_service`, `take_turns`, `limit_request_size`, ...);
- start and stop: the bound port (`bound_url`), the clock task (`stop_clock`);
- security (gateway.opcua.access, issue #14): every request message passes a guard
  before asyncua handles it (`guard_requests`: a None channel asyncua accepts whatever
  is configured, and RegisterServer, which it serves without a session), a user name
  token is decrypted there for the password check (`user_token`), and a Read learns
  its caller as a Call does (`track_callers`, `caller_user`); a renewed application
  certificate is put in place while the server runs (`use_certificate`);
- a shelved condition's UnshelveTime counts down when read (`compute_on_read`).

Every other module of gateway.opcua talks to asyncua's `Server` and `ua` only, plus the
address-space data model its node builders write: `AddressSpace` (a mapping NodeId ->
NodeData), `NodeData` (nodeid, attributes, references, call) and `AttributeValue`
(value, datachange_callbacks), imported from here.

`INTERNALS` lists every name of asyncua's this module relies on, and `check` (run by
OpcuaServer before anything touches them) fails with "asyncua <version> moved
<Class>.<name>: gateway/opcua/asyncua_internals.py must follow" instead of an
AttributeError in some callback later; tests/gateway/opcua/test_asyncua_internals.py
checks each name, and that no other module of the gateway reaches past this one. What a
name does (when asyncua calls it, with which arguments) is checked by the behaviour
tests of tests/gateway/opcua/. Upgrade procedure: gateway/opcua/README.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, cast
from urllib.parse import urlparse

import asyncua
from asyncua import Server, ua
from asyncua.common.connection import SecureConnection, TransportLimits
from asyncua.crypto.permission_rules import User
from asyncua.crypto.security_policies import SecurityPolicyFactory, SecurityPolicyNone
from asyncua.server.address_space import AddressSpace, AttributeService, AttributeValue, NodeData
from asyncua.server.binary_server_asyncio import BinaryServer, OPCUAProtocol
from asyncua.server.internal_server import InternalServer
from asyncua.server.internal_session import InternalSession
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import (
    MonitoredItemData,
    MonitoredItemService,
    MonitoredItemValues,
    WhereClauseEvaluator,
)
from asyncua.server.subscription_service import SubscriptionService
from asyncua.server.uaprocessor import PublishRequestData, UaProcessor
from cryptography.hazmat.primitives import serialization

from gateway.opcua.encoding import client_handle as encoded_client_handle
from gateway.opcua.encoding import publish_response

# The classes other modules of gateway.opcua build and type with, and what they call.
__all__ = [
    "INTERNALS",
    "SESSION_SERVICES",
    "AddressSpace",
    "AsyncuaInternalsMoved",
    "AttributeService",
    "AttributeValue",
    "DataChangeItem",
    "Entry",
    "Event",
    "Internal",
    "InternalSession",
    "NodeData",
    "Service",
    "Request",
    "accept",
    "address_space",
    "bound_url",
    "caller_name",
    "caller_user",
    "check",
    "client_session_count",
    "compute_on_read",
    "data_change_item",
    "deliver",
    "enqueue",
    "fill_standard_nodes",
    "guard_requests",
    "is_live",
    "limit_request_size",
    "monitored_item_count",
    "moved",
    "on_session_created",
    "on_standard_nodes",
    "refresh_refusal",
    "replace_attribute_service",
    "replace_nodes",
    "samples",
    "send_encoded",
    "stock_item_service",
    "stop_clock",
    "subscription_items",
    "take_turns",
    "track_callers",
    "use_certificate",
    "user_token",
    "wrap_session_service",
]

WRITTEN_FOR = "2.1"
MODULE = "gateway/opcua/asyncua_internals.py"


@dataclass(frozen=True, slots=True)
class Internal:
    """One name of asyncua's that the gateway relies on: `owner.name`."""

    owner: type
    name: str

    def __str__(self) -> str:
        return f"{self.owner.__name__}.{self.name}"


def _names(owner: type, *names: str) -> tuple[Internal, ...]:
    return tuple(Internal(owner, name) for name in names)


# The session services that limits.py bounds and conditions.py's caller tracking wraps.
SESSION_SERVICES = (
    "read", "write", "browse", "translate_browsepaths_to_nodeids", "call", "history_read",
    "add_nodes", "delete_nodes", "add_references", "delete_references",
    "create_monitored_items", "modify_monitored_items", "delete_monitored_items",
    "set_monitoring_mode", "delete_subscriptions",
)

INTERNALS: tuple[Internal, ...] = (
    *_names(Server, "iserver", "bserver", "limits", "endpoint"),
    *_names(BinaryServer, "port"),
    *_names(
        InternalServer,
        "aspace", "attribute_service", "subscription_service", "isession", "create_session",
        "_external_sessions", "asyncio_transports", "time_task", "endpoints",
        "decrypt_user_token", "lookup_external_session",
    ),
    *_names(InternalSession, "session_id", "user", *SESSION_SERVICES),
    *_names(User, "name"),
    *_names(OPCUAProtocol, "_process_one_msg"),
    *_names(SubscriptionService, "subscriptions"),
    *_names(
        InternalSubscription,
        "data", "session_id", "monitored_item_srv", "pub_request_callback", "enqueue_event",
        "pub_result_callback",
        "_triggered_datachanges", "_pop_triggered_datachanges", "_trigger_publish",
    ),
    *_names(
        MonitoredItemService,
        "isub", "datachange_callback", "delete_monitored_items",
        "_monitored_items", "_monitored_datachange", "_monitored_events",
    ),
    *_names(
        MonitoredItemData,
        "mode", "client_handle", "queue_size", "filter", "mvalue", "where_clause_evaluator",
    ),
    *_names(MonitoredItemValues, "current_dvalue"),
    *_names(WhereClauseEvaluator, "eval"),
    *_names(
        UaProcessor, "forward_publish_response", "_connection", "_transport",
        "_process_message", "session",
    ),
    *_names(SecureConnection, "message_to_binary", "security_policy"),
    *_names(PublishRequestData, "requesthdr", "seqhdr", "results"),
    *_names(AttributeService, "write", "read"),
    # The address-space data model the node builders write (see the module docstring).
    *_names(
        AddressSpace,
        "__getitem__", "__setitem__", "__delitem__", "__contains__", "get",
        "delete_datachange_callback",
    ),
    *_names(NodeData, "nodeid", "attributes", "references", "call"),
    *_names(AttributeValue, "value", "datachange_callbacks", "value_callback"),
    # Where the application certificate and key live once the server runs (use_certificate).
    *_names(Server, "_policies"),
    *_names(InternalServer, "certificate", "private_key"),
    *_names(SecurityPolicyFactory, "certificate", "private_key"),
    # The standard address space, built or read from the cache (gateway.opcua.standard_nodes).
    *_names(InternalServer, "load_standard_address_space", "node_mgt_service"),
    *_names(AddressSpace, "_nodes"),
)


class AsyncuaInternalsMoved(RuntimeError):
    """The installed asyncua lacks a name the gateway relies on."""


def moved(samples: dict[type, object], internals: Iterable[Internal] = INTERNALS) -> list[str]:
    """One line per internal that neither its class nor its sample instance has."""
    return [
        f"asyncua {asyncua.__version__} moved {internal}: {MODULE} must follow "
        f"(written for asyncua {WRITTEN_FOR})"
        for internal in internals
        if not hasattr(samples.get(internal.owner, internal.owner), internal.name)
    ]


def samples(server: Server) -> dict[type, object]:
    """An instance of each class whose instance attributes INTERNALS names.

    Instance attributes exist only on instances: the server's own, and throwaway ones
    of the classes that appear only once a client subscribes or connects.
    """
    found: dict[type, object] = {Server: server}
    iserver = getattr(server, "iserver", None)
    if iserver is None:
        return found
    found[InternalServer] = iserver
    members: tuple[tuple[type, str], ...] = (
        (AddressSpace, "aspace"),
        (AttributeService, "attribute_service"),
        (SubscriptionService, "subscription_service"),
        (InternalSession, "isession"),
    )
    for owner, name in members:
        value = getattr(iserver, name, None)
        if value is not None:
            found[owner] = value
    aspace: Any = getattr(iserver, "aspace", None)
    limits: Any = getattr(server, "limits", None)
    builders: list[tuple[type, Callable[[], object]]] = [
        (BinaryServer, lambda: BinaryServer(iserver, "127.0.0.1", 0, limits)),
        (
            InternalSubscription,
            lambda: InternalSubscription(
                ua.CreateSubscriptionResult(), aspace, _ignore, ua.NodeId()
            ),
        ),
        (MonitoredItemData, MonitoredItemData),
        (UaProcessor, lambda: UaProcessor(iserver, _NoTransport(), limits)),
        (PublishRequestData, PublishRequestData),
        (NodeData, lambda: NodeData(ua.NodeId())),
        (
            SecurityPolicyFactory,
            lambda: SecurityPolicyFactory(  # type: ignore[no-untyped-call]
                SecurityPolicyNone, ua.MessageSecurityMode.None_
            ),
        ),
        (AttributeValue, lambda: AttributeValue(ua.DataValue())),
    ]
    for owner, build in builders:
        try:
            found[owner] = build()
        except Exception:  # noqa: S112 - a changed constructor shows as its names missing
            continue
    subscription = found.get(InternalSubscription)
    service = getattr(subscription, "monitored_item_srv", None)
    if service is not None:
        found[MonitoredItemService] = service
    values = getattr(found.get(MonitoredItemData), "mvalue", None)
    if values is not None:
        found[MonitoredItemValues] = values
    connection = getattr(found.get(UaProcessor), "_connection", None)
    if connection is not None:
        found[SecureConnection] = connection
    return found


class _NoTransport:
    """What UaProcessor asks of a transport when it is made (its peer's address)."""

    def get_extra_info(self, _name: str) -> None:
        return None


def check(server: Server) -> None:
    """Raise AsyncuaInternalsMoved naming every internal the installed asyncua lacks."""
    lines = moved(samples(server))
    if lines:
        raise AsyncuaInternalsMoved("\n".join(lines))


async def _ignore(*_args: object) -> None:
    return None


# -- server: address space, services, start and stop ----------------------------------


def address_space(server: Server) -> AddressSpace:
    """The server's address space, where the node builders write."""
    return server.iserver.aspace


def replace_attribute_service(server: Server, service: AttributeService) -> None:
    """Make `service` answer every Read and Write (InternalSession awaits
    `iserver.attribute_service.write(params, user)` and returns its StatusCodes)."""
    server.iserver.attribute_service = service


async def stop_clock(server: Server) -> None:
    """Cancel asyncua's CurrentTime loop, which `stop()` would wait up to a second for."""
    clock = server.iserver.time_task
    if clock is not None:
        clock.cancel()
        await asyncio.wait({clock})
        server.iserver.time_task = None


def bound_url(server: Server) -> str:
    """The configured endpoint with the port the socket really bound (port 0 => ephemeral).

    asyncua builds its EndpointDescriptions before binding, so with port 0 they would
    advertise port 0; they are corrected here too.
    """
    if server.bserver is None:
        raise RuntimeError("asyncua started without a binary server")
    configured = server.endpoint
    port = server.bserver.port
    host = configured.hostname or "0.0.0.0"  # noqa: S104 - only echoes the configured URL
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    url = configured._replace(netloc=netloc).geturl()
    server.endpoint = urlparse(url)
    for endpoint in server.iserver.endpoints:
        endpoint.EndpointUrl = url
        endpoint.Server.DiscoveryUrls = [url]
    return url


async def use_certificate(server: Server, cert: str, key: str) -> None:
    """Serve with the certificate and key in the files `cert` and `key` from now on,
    without a restart.

    asyncua keeps them in three places: the InternalServer (a user token's decryption,
    the session's signature), every EndpointDescription (what GetEndpoints tells
    clients) and the security policy factories from which each new SecureChannel's
    policy is made (`Server._policies`, the very list the binary server and every
    connection hold). Channels already open keep the policy they were opened with until
    they close.
    """
    await server.load_certificate(cert)
    await server.load_private_key(key)
    iserver = server.iserver
    der = iserver.certificate.public_bytes(serialization.Encoding.DER)
    for endpoint in iserver.endpoints:
        if endpoint.ServerCertificate:
            endpoint.ServerCertificate = der
    for factory in server._policies:
        factory.certificate = iserver.certificate
        factory.private_key = iserver.private_key


def compute_on_read(
    attribute: AttributeValue, compute: Callable[[ua.NodeId, ua.AttributeIds], ua.DataValue]
) -> None:
    """Answer every Read of `attribute` with `compute(node id, attribute id)` (asyncua's
    `value_callback`, which `AddressSpace.read_attribute_value` calls instead of returning
    the stored value); monitored items still get the values stored in it."""
    attribute.value_callback = compute


def limit_request_size(server: Server, max_bytes: int, chunk_bytes: int) -> None:
    """Refuse request messages over `max_bytes` (Bad_RequestTooLarge, connection closed),
    received in chunks of `chunk_bytes`; before `start`."""
    server.limits = TransportLimits(
        max_recv_buffer=chunk_bytes,
        max_send_buffer=chunk_bytes,
        max_chunk_count=math.ceil(max_bytes / chunk_bytes),
        max_message_size=max_bytes,
    )


# -- client sessions ----------------------------------------------------------------------

Service = Callable[[Any], Awaitable[Any]]


def on_session_created(
    server: Server,
    made: Callable[[InternalSession], None],
    *,
    clients_only: bool = False,
    admit: Callable[[], None] | None = None,
) -> None:
    """Call `made` with every session asyncua creates from now on (`clients_only`: the
    client sessions, not asyncua's internal ones), and `admit` before a client session
    is created (it may raise ServiceError to refuse it)."""
    iserver = server.iserver
    stock = iserver.create_session

    def create_session(*args: Any, **kwargs: Any) -> InternalSession:
        # UaProcessor creates every client session with external=True, by keyword.
        external = bool(kwargs.get("external"))
        if external and admit is not None:
            admit()
        session = stock(*args, **kwargs)
        if external or not clients_only:
            made(session)
        return session

    iserver.create_session = create_session  # type: ignore[method-assign]


def wrap_session_service(
    session: InternalSession, name: str, wrap: Callable[[Service], Service]
) -> None:
    """Replace the session's service `name` (one of SESSION_SERVICES, which UaProcessor
    and close_session call on the session) with `wrap(service)`."""
    if name not in SESSION_SERVICES:
        raise ValueError(f"{name!r} is not a session service of {MODULE}")
    setattr(session, name, wrap(getattr(session, name)))


def client_session_count(server: Server) -> int:
    """The client sessions open now."""
    return len(server.iserver._external_sessions)


def take_turns(server: Server, turn: Callable[..., Awaitable[bool]]) -> None:
    """Have every request message of every connection processed as
    `turn(process, *args)`, which awaits `process(*args)` when the message's turn comes;
    before `start`."""
    _connections(server).turn = turn


@dataclass(frozen=True, slots=True)
class Request:
    """What a request guard sees of a request message: its type (the encoding NodeId),
    its body after the request header (a copy: reading it moves nothing), the channel's
    SecurityPolicyUri, the session of the connection (None before CreateSession), and
    the session a reconnecting ActivateSession names."""

    type_id: ua.NodeId
    body: Any
    policy_uri: str
    session: InternalSession | None
    named_session: InternalSession | None


RequestGuard = Callable[[Request], Awaitable[None]]


def guard_requests(server: Server, guard: RequestGuard) -> None:
    """Await `guard(request)` before asyncua handles each request message of every
    connection; a ServiceError it raises is the client's ServiceFault. Before `start`."""
    _connections(server).guards.append(guard)


def user_token(
    server: Server, session: InternalSession, token: ua.UserNameIdentityToken
) -> tuple[str, str]:
    """The user name and password of a token, decrypted with the server's key and the
    session's nonce as asyncua's ActivateSession does; ValueError if it cannot be."""
    try:
        name, password = server.iserver.decrypt_user_token(session, token)
    except Exception as exc:  # asyncua raises what cryptography or struct raise
        raise ValueError(f"undecryptable user token: {exc}") from exc
    return str(name or ""), str(password or "")


def _connections(server: Server) -> _Connections:
    transports = server.iserver.asyncio_transports
    if not isinstance(transports, _Connections):
        transports = server.iserver.asyncio_transports = _Connections(server)
    return transports


class _Connections(list[Any]):
    """InternalServer.asyncio_transports, to which asyncua's OPCUAProtocol adds its
    transport when a client connects, before it starts processing the client's messages:
    here each message of the connection is made to wait for its turn, and each request
    to pass the guards."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self._server = server
        self.turn: Callable[..., Awaitable[bool]] | None = None
        self.guards: list[RequestGuard] = []

    def append(self, transport: Any) -> None:
        protocol = transport.get_protocol()
        if self.turn is not None:
            # OPCUAProtocol._process_received_message_loop calls this for every message.
            protocol._process_one_msg = partial(self.turn, protocol._process_one_msg)
        if self.guards:
            processor = protocol.processor
            processor._process_message = partial(
                self._guarded, processor, processor._process_message
            )
        super().append(transport)

    async def _guarded(
        self, processor: UaProcessor, process: Callable[..., Awaitable[Any]],
        type_id: ua.NodeId, header: ua.RequestHeader, *args: Any,
    ) -> Any:
        """UaProcessor._process_message(typeid, requesthdr, seqhdr, body), guarded."""
        body = args[-1]
        named = None
        if processor.session is None:
            named = self._server.iserver.lookup_external_session(header.AuthenticationToken)
        request = Request(
            type_id, body.copy(), processor._connection.security_policy.URI,
            processor.session, named,
        )
        for guard in self.guards:
            await guard(request)
        return await process(type_id, header, *args)


# -- subscriptions and monitored items ---------------------------------------------------


def monitored_item_count(server: Server, session: InternalSession | None = None) -> int:
    """The monitored items of every subscription on the server, or of `session`'s."""
    subscriptions = server.iserver.subscription_service.subscriptions.values()
    return sum(
        len(sub.monitored_item_srv._monitored_items)
        for sub in subscriptions
        if session is None or sub.session_id == session.session_id
    )


def subscription_items(
    server: Server, subscription_id: int
) -> tuple[list[int], Callable[[int], None]] | None:
    """The subscription's monitored item ids, in creation order (which asyncua's item
    lookups find first), and a deleter of one; None if there is no such subscription."""
    subscription = server.iserver.subscription_service.subscriptions.get(subscription_id)
    if subscription is None:
        return None
    service = subscription.monitored_item_srv

    def delete(mid: int) -> None:
        service.delete_monitored_items([mid])

    return list(service._monitored_items), delete


# -- the lean data-change path (gateway.opcua.notify) ------------------------------------

_STOCK_CALLBACK = getattr(MonitoredItemService, "datachange_callback", None)
_DISABLED = ua.MonitoringMode.Disabled

# reportable(whether anything was reported, the last reported value, its StatusCode, its
# SourceTimestamp, the new value's three, the item's filter, the EURange span): values are
# a Variant's value, None for none.
Reportable = Callable[
    [bool, object, ua.StatusCode | None, datetime | None, object, ua.StatusCode | None,
     datetime | None, Any, float | None],
    bool,
]
Entry = ua.MonitoredItemNotification | bytes


def stock_item_service(callback: Callable[..., Any]) -> MonitoredItemService | None:
    """The MonitoredItemService whose own datachange_callback `callback` is, if it is."""
    service = getattr(callback, "__self__", None)
    if type(service) is not MonitoredItemService:
        return None
    if getattr(callback, "__func__", None) is not _STOCK_CALLBACK:
        return None
    return service


@dataclass(slots=True, eq=False)
class DataChangeItem:
    """A data-change monitored item, found from its callback handle once (gateway.opcua.notify
    keeps one per handle) instead of through the service's two maps at every value.

    asyncua changes an item's filter, queue size and mode in place
    (`MonitoredItemService._modify_monitored_item`, `_set_monitoring_mode`), so `accept`
    and `enqueue` read them from the item at each value. Deleting an item removes its
    handle from the attribute's callbacks: it is then no longer reached, and `is_live`
    says it can be forgotten.
    """

    service: MonitoredItemService
    subscription: InternalSubscription
    mid: int
    item: MonitoredItemData
    encoded: bool  # a client's subscription: its queue takes encoded notifications
    # Its ClientHandle, set when asyncua creates the item and never changed by it
    # (ModifyMonitoredItems keeps it); and encoded once, as a notification starts.
    handle_for_client: int
    encoded_handle: bytes
    # The last value reported, as its parts: what `accept` compares the next one with
    # (gateway.opcua.tag_value keeps polled values as parts, without a DataValue).
    reported: bool = False
    last_value: object = None
    last_status: ua.StatusCode | None = None
    last_source: datetime | None = None


def data_change_item(
    service: MonitoredItemService,
    handle: int,
    notification: Callable[[Iterable[list[Entry]]], ua.ExtensionObject],
) -> DataChangeItem | None:
    """The item of `service` (see `stock_item_service`) behind the data change callback
    `handle`, None if it has none; a client's subscription is made to send its queued
    notifications as `notification(queues)` (`send_encoded`)."""
    mid = service._monitored_datachange.get(handle)
    item = None if mid is None else service._monitored_items.get(mid)
    if mid is None or item is None:
        return None
    subscription = service.isub
    encoded = send_encoded(subscription, notification)
    client_handle = item.client_handle
    if client_handle is None:
        return None
    return DataChangeItem(service, subscription, mid, item, encoded, client_handle,
                          encoded_client_handle(client_handle))


def is_live(found: DataChangeItem) -> bool:
    """Whether the item is still its service's (not deleted, alone or with its subscription)."""
    return found.service._monitored_items.get(found.mid) is found.item


def accept(
    found: DataChangeItem,
    value: object,
    status: ua.StatusCode | None,
    source: datetime | None,
    eu_span: float | None,
    reportable: Reportable,
) -> bool:
    """Whether to report a value (a Variant's value, None for none, its StatusCode and
    SourceTimestamp): `reportable` against the last value reported, which the item then
    remembers. Disabled items get nothing.

    asyncua reports some values of an item itself: its first, and the current one when
    the item is enabled again after being disabled. It records such a value in
    `current_dvalue` and compares the next one it reports with it. Here that record is
    taken as the last value reported and cleared, so that asyncua finds none when the
    item is enabled again and reports the current value whatever it was before, as for a
    new item.
    """
    item = found.item
    if item.mode == _DISABLED:
        return False
    values = item.mvalue
    taken = values.current_dvalue
    if taken is not None:
        variant = taken.Value
        found.reported = True
        found.last_value = None if variant is None else variant.Value
        found.last_status = taken.StatusCode
        found.last_source = taken.SourceTimestamp
        values.current_dvalue = None
    if not reportable(
        found.reported, found.last_value, found.last_status, found.last_source, value, status,
        source, item.filter, eu_span,
    ):
        return False
    found.reported = True
    found.last_value = value
    found.last_status = status
    found.last_source = source
    return True


def send_encoded(
    subscription: InternalSubscription,
    notification: Callable[[Iterable[list[Entry]]], ua.ExtensionObject],
) -> bool:
    """Whether the subscription is a client's; if so, make it send its queued
    notifications (bytes, or objects asyncua queued itself) as `notification(queues)`.

    `InternalSubscription._pop_publish_result` calls `self._pop_triggered_datachanges`;
    an instance attribute of that name takes the place of the method for this
    subscription only. A server-side subscription (no client) hands the notification
    objects to its callback, so it keeps asyncua's method.
    """
    if subscription.pub_request_callback is None:
        return False
    attributes = vars(subscription)
    if "_pop_triggered_datachanges" not in attributes:
        attributes["_pop_triggered_datachanges"] = partial(
            _pop_encoded, subscription, notification
        )
    return True


def _pop_encoded(
    subscription: InternalSubscription,
    notification: Callable[[Iterable[list[Entry]]], ua.ExtensionObject],
    result: ua.PublishResult,
) -> None:
    _encode_responses(subscription)
    queues: dict[int, list[Any]] = subscription._triggered_datachanges
    if not queues:
        return
    data = notification(queues.values())
    subscription._triggered_datachanges = {}
    result.NotificationMessage.NotificationData.append(data)


_STOCK_FORWARD = getattr(UaProcessor, "forward_publish_response", None)


def _encode_responses(subscription: InternalSubscription) -> None:
    """Make the subscription send its PublishResponses through `_forward_encoded`.

    `InternalSubscription.publish_results` pops the result (calling `_pop_encoded`), then
    awaits `pub_result_callback`, a client's `UaProcessor.forward_publish_response`; it is
    replaced here, at every cycle, since TransferSubscriptions binds the subscription to
    another connection's.
    """
    forward = subscription.pub_result_callback
    if getattr(forward, "__func__", None) is _STOCK_FORWARD:
        processor = cast(UaProcessor, getattr(forward, "__self__"))  # noqa: B009
        subscription.pub_result_callback = partial(_forward_encoded, processor, forward)


async def _forward_encoded(
    processor: UaProcessor,
    forward: Callable[[ua.PublishResult, PublishRequestData], Awaitable[None]],
    result: ua.PublishResult,
    request: PublishRequestData,
) -> None:
    """`forward_publish_response`, with the response encoded by `publish_response`: asyncua
    builds a PublishResponse and serializes it field by field (about 30 µs, a third of a
    publish cycle of 150 notifications). What `publish_response` leaves to asyncua (events,
    status changes) goes through `forward`."""
    result.Results = request.results  # type: ignore[assignment]  # a list, from Publish
    body = publish_response(result, request.requesthdr.RequestHandle)
    if body is None:
        await forward(result, request)
        return
    # What UaProcessor.send_response does with the serialized response (a SecureMessage).
    message = processor._connection.message_to_binary(body, request_id=request.seqhdr.RequestId)
    processor._transport.write(message)


def enqueue(found: DataChangeItem, entry: Entry) -> Callable[[], Awaitable[None]] | None:
    """Queue a notification of the item; an overflowing queue loses its oldest, as
    asyncua's does. Returns the publish to await when the subscription publishes on
    every change (a publishing interval of 0), which asyncua's enqueue would trigger."""
    subscription = found.subscription
    # asyncua declares its queues of notification objects; the bytes share them.
    queues: dict[int, list[Any]] = subscription._triggered_datachanges
    queue = queues.get(found.mid)
    if queue is None:
        queues[found.mid] = [entry]
        if subscription.data.RevisedPublishingInterval <= 0.0:
            return subscription._trigger_publish
        return None
    queue_size = found.item.queue_size
    if queue_size and len(queue) >= queue_size:
        del queue[0]
    queue.append(entry)
    return None


# -- events and method callers (gateway.opcua.conditions) --------------------------------

_CALLER: contextvars.ContextVar[InternalSession | None] = contextvars.ContextVar(
    "opcua_caller", default=None
)
ANONYMOUS = "anonymous"


class Event(Protocol):
    """An event as asyncua's where-clause evaluator reads one (`event.EventType`,
    `getattr(event, <first element of an operand's browse path>)`), and its fields."""

    def select(self, clauses: list[ua.SimpleAttributeOperand]) -> list[ua.Variant]:
        """The fields a filter selects, in its order."""
        ...


async def deliver(
    server: Server,
    event: Event,
    notifiers: Collection[ua.NodeId] | None,
    *,
    subscription_id: int | None = None,
    item_id: int | None = None,
    filtered: bool = True,
) -> None:
    """Queue `event` for the event items on `notifiers` (None: on any node).

    Only the subscription `subscription_id` and its item `item_id`, if given. With
    `filtered` False the items' where clauses are skipped (the refresh bracket). asyncua
    itself hands an event only to the items on its emitting node
    (`MonitoredItemService.trigger_event`); Part 9 wants every notifier above its source.
    """
    targets: list[tuple[InternalSubscription, int, MonitoredItemData]] = []
    for subscription in _subscriptions(server, subscription_id):
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
            # Set from the client's request when asyncua created the item.
            ClientHandle=cast(int, item.client_handle),
            EventFields=event.select(item.filter.SelectClauses),
        )
        await subscription.enqueue_event(mid, fields, item.queue_size)


def refresh_refusal(server: Server, subscription_id: int, item_id: int | None) -> int | None:
    """Why a ConditionRefresh(2) of this subscription (and item) is refused, or None.

    Part 9 §5.5.7: the subscription must be the calling session's, and hold an event item.
    """
    subscription = server.iserver.subscription_service.subscriptions.get(subscription_id)
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


def caller_user() -> User | None:
    """The user of the session whose Call or Read runs now; None for the server's own."""
    caller = _CALLER.get()
    return caller.user if caller is not None else None


def caller_name() -> str:
    """The user identity of the session calling the current method, or "anonymous"."""
    caller = _CALLER.get()
    name = caller.user.name if caller is not None else None
    return name or ANONYMOUS


def track_callers(server: Server) -> None:
    """Make every session record itself while its Call request runs.

    asyncua calls a method's callback with the ObjectId and the input arguments only
    (`MethodService._run_method`); Part 9 needs the caller (the acknowledging user, the
    session that must own a refreshed subscription), which the callback, awaited in the
    same task, reads from a context variable.
    """

    def record_calls(session: InternalSession) -> None:
        def wrap(call: Service) -> Service:
            return partial(_call_as, session, call)

        # A Read too: a user's UserAccessLevel is that user's (gateway.opcua.writes).
        wrap_session_service(session, "call", wrap)
        wrap_session_service(session, "read", wrap)

    on_session_created(server, record_calls)


async def _call_as(session: InternalSession, call: Service, params: Any) -> Any:
    token = _CALLER.set(session)
    try:
        return await call(params)
    finally:
        _CALLER.reset(token)


def _subscriptions(server: Server, subscription_id: int | None) -> list[InternalSubscription]:
    subscriptions = server.iserver.subscription_service.subscriptions
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


# -- the standard address space (gateway.opcua.standard_nodes) ---------------------------


def on_standard_nodes(server: Server, load: Callable[[], Awaitable[None]]) -> None:
    """Have `server.init()` await `load` instead of building the standard address space
    itself (InternalServer.init awaits `load_standard_address_space` before anything else
    reads a node)."""

    async def load_standard_address_space(shelf_file: object = None) -> None:
        await load()

    server.iserver.load_standard_address_space = (  # type: ignore[method-assign]
        load_standard_address_space
    )


def fill_standard_nodes(server: Server) -> dict[ua.NodeId, NodeData]:
    """Build asyncua's standard address space into the server's empty one, from asyncua's
    generated code, and return its nodes; blocking (seconds)."""
    # Imported here, as asyncua does: the generated code alone takes MiBs once imported.
    from asyncua.server.standard_address_space import (  # noqa: PLC0415
        standard_address_space,
    )

    standard_address_space.fill_address_space(  # type: ignore[no-untyped-call]
        server.iserver.node_mgt_service
    )
    return server.iserver.aspace._nodes


def replace_nodes(server: Server, nodes: MutableMapping[ua.NodeId, NodeData]) -> None:
    """Make `nodes` the server's address space: what asyncua stores and looks nodes up in."""
    server.iserver.aspace._nodes = nodes  # type: ignore[assignment]
