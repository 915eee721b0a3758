"""The lean data-change path: store a value and queue it for every subscription watching it.

asyncua's own path, `write_attribute_value`, costs 65-70 µs of server CPU per
notification in bench/opcua_notify.py (one subscriber, 15,000 variables): per value it
awaits a coroutine per monitored item, deep-copies the DataValue for each
(`MonitoredItemValues.set_current_datavalue`), awaits the subscription's enqueue, and at
publish time encodes every MonitoredItemNotification through asyncua's generic dataclass
serializer (9 µs each). Here, per batch, one synchronous pass stores each DataValue in its
attribute, encodes it once (gateway.opcua.encoding) and appends the encoded notification
to each subscription's queue; the subscription then sends its queue as one pre-encoded
DataChangeNotification. The same bench measures 11-13 µs per notification.

Per value, the work that does not change is done once (issue #17): the monitored item
behind a callback handle is looked up in asyncua's two maps when first met and kept
(`Notifier._items`; filter, queue size and mode are still read from the item, which
asyncua changes in place), an item without a DataChangeFilter skips the filter logic,
and the encoder encodes the status and timestamps a batch shares once
(gateway.opcua.encoding). With gateway.opcua.uatypes' constructors this took the
publishing calls from about 8 to 4.5 µs per value (bench/README.md). A polled value is
then stored as its parts (`store_tag`, gateway.opcua.tag_value), compared by its parts
and encoded from them: no Variant and DataValue are made for it unless something reads
it, and none are freed a second later (about 0.8 µs less per value in a poller-shaped
run, bench/README.md); so is a device's Status variable, which changes at every poll too.
Every other value (assets, conditions) is stored as the DataValue it comes as (`store`).

Semantics kept from asyncua's MonitoredItemService, which still creates, modifies and
deletes the items and sends their initial value:
- every stored value is a sample (asyncua revises the sampling interval to the publishing
  interval and samples on change, never on a clock);
- items in Disabled mode are skipped; Sampling is treated like Reporting, as asyncua does;
- queue overflow discards the oldest notification of the item, as asyncua does.
Differences, where asyncua departs from Part 4:
- an item enabled again after being disabled reports the current value, as a new item
  does (§5.12.1.3); asyncua compared it with the value it recorded last, and kept quiet
  when they were equal (asyncua_internals.accept);
- (§7.22.2) the trigger and deadband compare with the last *reported* value (asyncua compares
  with the previous sample, so a slow drift never passes an absolute deadband);
- (§7.22.2) a percent deadband is honoured against the tag's EURange (asyncua logs "not
  implemented" and reports everything); without an EURange it reports every change;
- (§7.22.2) with a deadband, StatusValueTimestamp behaves like StatusValue, as Part 4 prescribes.

Server-side subscriptions (no client, results handed to a callback) still get
MonitoredItemNotification objects. Datachange callbacks that are not a
MonitoredItemService's are awaited as asyncua would, in one task per batch; so is the
immediate publish of a subscription with a publishing interval of 0, which asyncua
triggers from its (async) enqueue.

The monitored items' and subscriptions' queues are asyncua's internals, reached through
gateway.opcua.asyncua_internals; tests/gateway/opcua/test_notify.py exercises them through
real subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import partial
from itertools import chain
from typing import Any, Protocol, TypeGuard

from asyncua import ua
from asyncua.ua.ua_binary import struct_to_binary
from asyncua.ua.uaprotocol_auto import DataChangeFilter

from gateway.opcua.asyncua_internals import (
    AddressSpace,
    AttributeValue,
    DataChangeItem,
    Entry,
    accept,
    data_change_item,
    enqueue,
    is_live,
    stock_item_service,
)
from gateway.opcua.encoding import DataValueEncoder, data_change_notification
from gateway.opcua.tag_value import TagValue
from gateway.opcua.uatypes import data_value, make_status

logger = logging.getLogger(__name__)

_NULL = ua.Variant(None, ua.VariantType.Null)
_ABSOLUTE = ua.DeadbandType.Absolute
_PERCENT = ua.DeadbandType.Percent
_STATUS = ua.DataChangeTrigger.Status
_STATUS_VALUE_TIMESTAMP = ua.DataChangeTrigger.StatusValueTimestamp
_FIRST_SWEEP = 1024


def reportable(
    reported: bool,
    last_value: object,
    last_status: ua.StatusCode | None,
    last_source: datetime | None,
    value: object,
    status: ua.StatusCode | None,
    source: datetime | None,
    flt: Any,
    eu_span: float | None,
) -> bool:
    """Whether a value passes the item's DataChangeFilter compared with the last reported
    value (each as a Variant's value, None for none, a StatusCode and a SourceTimestamp);
    the first value is always reported."""
    if not reported:
        return True
    # The gateway shares StatusCode objects (gateway.opcua.status): mostly the same one.
    if last_status is not status and last_status != status:
        return True
    # Decoded filters are the generated class; ua.DataChangeFilter is a hand-written
    # subclass of it (with another default Trigger) that they are not instances of.
    if not isinstance(flt, DataChangeFilter):
        # No filter, the common case: None, or the empty ExtensionObject clients send.
        # The default is StatusValue without a deadband (Part 4 §7.22.2).
        return _changed(last_value, value)
    trigger = flt.Trigger
    if trigger == _STATUS:
        return False
    deadband = _deadband(flt, eu_span)
    if deadband is not None and _is_number(last_value) and _is_number(value):
        if math.isnan(last_value) or math.isnan(value):
            return _changed(last_value, value)
        return abs(value - last_value) > deadband
    if _changed(last_value, value):
        return True
    # The gateway's values carry no picoseconds (gateway.opcua.uatypes.data_value).
    return trigger == _STATUS_VALUE_TIMESTAMP and last_source != source


def _deadband(data_filter: DataChangeFilter, eu_span: float | None) -> float | None:
    if data_filter.DeadbandType == _ABSOLUTE:
        return float(data_filter.DeadbandValue)
    if data_filter.DeadbandType == _PERCENT and eu_span is not None:
        # Part 8 §6.2: the deadband is a percentage of the EURange span.
        return data_filter.DeadbandValue / 100.0 * eu_span
    return None


def _changed(old: object, new: object) -> bool:
    # Part 4 §7.22.2: a value entering NaN is reported once, not at every NaN sample.
    return old != new and not (
        isinstance(old, float) and math.isnan(old) and isinstance(new, float) and math.isnan(new)
    )


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Current(Protocol):
    """An attribute's new value as the notifier reads it: a tag variable's (TagValue), or
    any other DataValue (`_Stored`)."""

    @property
    def value(self) -> object:
        """The Variant's value; None for none."""

    @property
    def status(self) -> ua.StatusCode | None: ...

    @property
    def source(self) -> datetime | None: ...

    @property
    def eu_span(self) -> float | None:
        """high - low of the EURange, for percent deadbands."""

    def data_value(self) -> ua.DataValue: ...

    def encoded(self, encoder: DataValueEncoder) -> bytes: ...


class _Stored:
    """A DataValue stored as it is (assets, conditions), read as a `Current`."""

    __slots__ = ("_data_value", "eu_span", "source", "status", "value")

    def __init__(self, value: ua.DataValue, eu_span: float | None) -> None:
        self._data_value = value
        self.value = None if value.Value is None else value.Value.Value
        self.status = value.StatusCode
        self.source: datetime | None = value.SourceTimestamp
        self.eu_span = eu_span

    def data_value(self) -> ua.DataValue:
        return self._data_value

    def encoded(self, encoder: DataValueEncoder) -> bytes:
        return encoder.encode(self._data_value)


class Notifier:
    """Stores DataValues in the address space and queues their data-change notifications."""

    def __init__(self) -> None:
        self._deferred: list[Callable[[], Awaitable[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._encoder = DataValueEncoder()
        # The monitored item behind each data change callback handle met so far. asyncua
        # never reuses a handle; the deleted items' are swept out whenever the map has
        # doubled since the last sweep, which keeps the sweeps' cost per item constant.
        self._items: dict[int, DataChangeItem] = {}
        self._sweep_at = _FIRST_SWEEP

    @property
    def items_known(self) -> int:
        """How many monitored items the notifier keeps (live ones, and deleted ones until
        the next sweep)."""
        return len(self._items)

    def store(self, attribute: AttributeValue, value: ua.DataValue, eu_span: float | None) -> None:
        """Make `value` the attribute's value and queue it for its monitored items."""
        attribute.value = value
        if attribute.datachange_callbacks:
            self._queue(attribute.datachange_callbacks, _Stored(value, eu_span))

    def store_tag(
        self,
        current: TagValue,
        value: bool | int | float | str | None,
        shown: bool,
        status: ua.StatusCode,
        source: datetime | None,
        server: datetime,
    ) -> None:
        """Make a polled value (a tag's, or a device Status variable's) the variable's value
        (`TagValue.set`) and queue it for its monitored items, without a DataValue unless
        one of them needs it."""
        current.set(value, shown, status, source, server)
        callbacks = current.attribute.datachange_callbacks
        if callbacks:
            self._queue(callbacks, current)

    def _queue(self, callbacks: dict[int, Callable[..., Any]], current: Current) -> None:
        """Queue the attribute's new value for each of its monitored items that reports it."""
        encoded: bytes | None = None
        items = self._items
        value, status, source = current.value, current.status, current.source
        eu_span = current.eu_span
        for handle, callback in callbacks.items():
            item = items.get(handle)
            if item is None:
                service = stock_item_service(callback)
                if service is None:
                    self._deferred.append(partial(callback, handle, current.data_value()))
                    continue
                item = data_change_item(service, handle, _notification)
                if item is None:
                    continue
                self._remember(handle, item)
            if not accept(item, value, status, source, eu_span, reportable):
                continue
            entry: Entry
            if item.encoded:
                if encoded is None:
                    encoded = current.encoded(self._encoder)
                entry = item.encoded_handle + encoded
            else:
                # A server-side subscription: its callback reads the notification objects.
                entry = ua.MonitoredItemNotification(
                    ClientHandle=item.handle_for_client, Value=current.data_value())
            publish = enqueue(item, entry)
            if publish is not None:
                self._deferred.append(publish)

    def _remember(self, handle: int, item: DataChangeItem) -> None:
        items = self._items
        items[handle] = item
        if len(items) >= self._sweep_at:
            for gone in [known for known, found in items.items() if not is_live(found)]:
                del items[gone]
            self._sweep_at = max(_FIRST_SWEEP, 2 * len(items))

    def forget(self, attribute: AttributeValue, aspace: AddressSpace) -> None:
        """Tell the attribute's monitored items that its node is gone, then drop them.

        Each item gets a BadNodeIdUnknown data change, as Part 4 §5.7.4.1 (v1.04,
        DeleteNodes) asks, instead of the subscription-wide StatusChangeNotification
        asyncua's own node deletion sends.
        """
        gone = data_value(_NULL, make_status(ua.StatusCodes.BadNodeIdUnknown))
        self.store(attribute, gone, None)
        for handle in list(attribute.datachange_callbacks):
            aspace.delete_datachange_callback(handle)
            self._items.pop(handle, None)

    def flush(self) -> None:
        """Run, in one task, the coroutines this batch could not complete synchronously."""
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, []
        task = asyncio.get_running_loop().create_task(_run_all(deferred), name="opcua-deferred")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Wait for deferred work still running."""
        if self._tasks:
            await asyncio.gather(*self._tasks)


def _notification(queues: Iterable[list[Entry]]) -> ua.ExtensionObject:
    """A subscription's queued notifications as one DataChangeNotification: the bytes
    queued here, and the objects asyncua queued itself (an item's first value) encoded
    with asyncua's serializer."""
    entries = list(chain.from_iterable(queues))
    try:
        # Joined as they are, without a look at each in Python (a tenth of a publish cycle).
        return data_change_notification(entries)  # type: ignore[arg-type]
    except TypeError:  # an object among them
        return data_change_notification(
            [entry if type(entry) is bytes else struct_to_binary(entry) for entry in entries]
        )


async def _run_all(deferred: list[Callable[[], Awaitable[Any]]]) -> None:
    for make in deferred:
        try:
            await make()
        except Exception:
            # asyncua's write_attribute_value logs and goes on the same way: one failing
            # callback must not starve the others of the batch.
            logger.exception("data change callback failed")
