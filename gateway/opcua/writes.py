"""Client writes to tags: routed to the device through the runtime's write handler.

asyncua 2.1 offers three hooks, and only one lets an async handler decide the StatusCode
a client's Write returns:
- `set_attribute_value_setter` is called synchronously and its result is ignored:
  `AddressSpace.write_attribute_value` returns Good after it and then fires the data
  change callbacks with the client's value;
- PreWrite/PostWrite listeners (`subscribe_server_callback`) are awaited, but around the
  stock write: the value would already be stored and notified before the device answers;
- `InternalSession.write` awaits `iserver.attribute_service.write(params, user)` and
  returns its per-item StatusCodes to the client. `TagWriteService` replaces that
  service (gateway.opcua.asyncua_internals.replace_attribute_service): a Value write
  to a tag awaits the handler and returns Good only once the device accepted it;
  everything else goes to asyncua's own AttributeService.

Who may write (issue #14): the engineer and admin roles (gateway.opcua.access); any other
session's Write is refused with Bad_UserAccessDenied item by item, and its Read of a
tag's UserAccessLevel shows the tag as read-only.

Each write that reaches the device is recorded in the audit log (when the gateway keeps
one) with the session's user, the tag, the value and the outcome, as the web page records
its changes.

A write never stores the value in the address space: the next poll reports what the
device really holds, with the device's timestamp.

The handler runs inside the client's request: asyncua processes one request at a time
per connection, so a slow device write delays that client's other requests (other
clients are not affected). The handler owns the timeout, as it owns the device's loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole

from gateway.core.sample import Value
from gateway.core.writes import WriteFailure, WriteFailureReason
from gateway.opcua.access import role_of
from gateway.opcua.address_space import TagNode
from gateway.opcua.asyncua_internals import AddressSpace, AttributeService, caller_user
from gateway.opcua.audit import AuditTrail
from gateway.opcua.uatypes import make_status
from web.users import Role

logger = logging.getLogger(__name__)

WriteHandler = Callable[[str, Value], Awaitable[None]]
"""Writes `value` to the tag `key` ("<device>.<tag>"); raises WriteFailure if it cannot."""

FAILURE_CODES: MappingProxyType[WriteFailureReason, int] = MappingProxyType(
    {
        WriteFailureReason.UNKNOWN_TAG: ua.StatusCodes.BadNodeIdUnknown,
        WriteFailureReason.NOT_WRITABLE: ua.StatusCodes.BadNotWritable,
        WriteFailureReason.TYPE_MISMATCH: ua.StatusCodes.BadTypeMismatch,
        WriteFailureReason.OUT_OF_RANGE: ua.StatusCodes.BadOutOfRange,
        WriteFailureReason.COMM_ERROR: ua.StatusCodes.BadCommunicationError,
        WriteFailureReason.DEVICE_ERROR: ua.StatusCodes.BadDeviceFailure,
        WriteFailureReason.CONFIG_ERROR: ua.StatusCodes.BadConfigurationError,
    }
)

_ADMIN = User(role=UserRole.Admin)  # asyncua's default for server-internal calls


class TagWriteService(AttributeService):
    """asyncua's attribute service, with Value writes in our namespace handled here.

    That includes writes through the server's own internal session: values reach the
    address space through gateway.opcua.notify, never through a Write.
    """

    def __init__(
        self,
        aspace: AddressSpace,
        namespace_index: int,
        tags: Mapping[str, TagNode],
        handler: WriteHandler,
        audit: AuditTrail | None = None,
    ) -> None:
        super().__init__(aspace)
        self._nodes = aspace
        self._ns = namespace_index
        self._tags = tags
        self._handler = handler
        self._audit = audit

    async def write(self, params: ua.WriteParameters, user: User = _ADMIN) -> list[ua.StatusCode]:
        if not role_of(user).at_least(Role.ENGINEER):
            logger.info("OPC UA write of %d items by %r (%s) refused: engineers write",
                        len(params.NodesToWrite), user.name, role_of(user))
            return [make_status(ua.StatusCodes.BadUserAccessDenied)] * len(params.NodesToWrite)
        results: list[ua.StatusCode] = []
        for item in params.NodesToWrite:
            if item.NodeId.NamespaceIndex == self._ns and item.AttributeId == ua.AttributeIds.Value:
                results.append(await self._write_value(item, user.name))
            else:
                stock = await super().write(ua.WriteParameters(NodesToWrite=[item]), user=user)
                results.extend(stock)
        return results

    def read(self, params: ua.ReadParameters) -> list[ua.DataValue]:
        results = super().read(params)
        if role_of(caller_user()).at_least(Role.ENGINEER):
            return results
        for index, item in enumerate(params.NodesToRead):
            if item.AttributeId == ua.AttributeIds.UserAccessLevel:
                results[index] = _without_write(results[index])
        return results

    async def _write_value(self, item: ua.WriteValue, user: str | None) -> ua.StatusCode:
        identifier = item.NodeId.Identifier
        tag = self._tags.get(identifier) if isinstance(identifier, str) else None
        if tag is None:
            # Our folders, Status variables and properties are read-only.
            if item.NodeId in self._nodes:
                return make_status(ua.StatusCodes.BadNotWritable)
            return make_status(ua.StatusCodes.BadNodeIdUnknown)
        if not tag.writable:
            return make_status(ua.StatusCodes.BadNotWritable)
        refused = _refusal(item, tag)
        if refused is not None:
            return make_status(refused)
        value = item.Value.Value.Value  # _refusal checked both levels exist
        # Sessions with a user name carry it; anonymous ones (allowed only with
        # [opcua] anonymous = true) are named as caller_name names them.
        who = user or "anonymous"
        try:
            await self._handler(tag.key, value)
        except WriteFailure as failure:
            logger.warning("client write %s = %r by %r failed: %s", tag.key, value, who, failure)
            await self._record(who, "tag write over OPC UA failed",
                               f"{tag.key} = {value!r}: {failure}")
            return make_status(FAILURE_CODES[failure.reason])
        logger.info("client write %s = %r by %r accepted by the device", tag.key, value, who)
        await self._record(who, "tag written over OPC UA", f"{tag.key} = {value!r}")
        return make_status(ua.StatusCodes.Good)

    async def _record(self, user: str, action: str, detail: str) -> None:
        if self._audit is not None:
            await self._audit.record(user, action, detail)


def _without_write(found: ua.DataValue) -> ua.DataValue:
    """A UserAccessLevel as read, without CurrentWrite (a new value: the stored one is
    the node's)."""
    variant = found.Value
    if variant is None or not isinstance(variant.Value, int):
        return found
    level = variant.Value & ~ua.AccessLevel.CurrentWrite.mask
    return ua.DataValue(ua.Variant(level, ua.VariantType.Byte), StatusCode=found.StatusCode)


def _refusal(item: ua.WriteValue, tag: TagNode) -> int | None:
    """The status code refusing a write before it reaches the device, or None."""
    if item.IndexRange:
        return ua.StatusCodes.BadWriteNotSupported
    data_value = item.Value
    # Part 4 §5.11.4: a server that cannot write a StatusCode says BadWriteNotSupported.
    # Timestamps sent by the client are ignored: the device's value brings its own.
    if data_value.StatusCode is not None and not data_value.StatusCode.is_good():
        return ua.StatusCodes.BadWriteNotSupported
    variant = data_value.Value
    if (
        variant is None
        or variant.is_array
        or variant.VariantType != tag.vtype
        or variant.Value is None
    ):
        return ua.StatusCodes.BadTypeMismatch
    return None
