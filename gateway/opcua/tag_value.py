"""A tag variable's Value kept as its parts, made into a DataValue only when one is asked for.

At 15,000 values per second (issue #17, bench/poll.py scenario B) a Variant and a
DataValue were built for every polled value, and the previous pair freed a second later
when the memory they sit in is cold: without them, storing a poll's 30 values took 174
instead of 221 us of thread CPU in B (bench/README.md). The polled value does not need
them: its notification is encoded from its parts (gateway.opcua.encoding),
and its monitored items compare parts (gateway.opcua.notify). A DataValue is made when
something reads the Value (a Read, a new monitored item's first value, a server-side
subscription's callback), once per value, and kept until the next one.
"""

from __future__ import annotations

from datetime import datetime

from asyncua import ua

from gateway.opcua.asyncua_internals import AttributeValue, compute_on_read
from gateway.opcua.encoding import DataValueEncoder
from gateway.opcua.uatypes import data_value, scalar_variant

_NULL = ua.Variant(None, ua.VariantType.Null)


class TagValue:
    """The current Value of one tag variable (or of a device's Status variable, which
    changes at every poll too): the value as its Variant holds it (`shown` False: Bad, no
    value, Part 4 §7.7.1), its StatusCode and its timestamps."""

    __slots__ = ("_made", "attribute", "eu_span", "server", "shown", "source", "status",
                 "value", "vtype")

    def __init__(self, attribute: AttributeValue, vtype: ua.VariantType,
                 eu_span: float | None) -> None:
        self.attribute = attribute
        self.vtype = vtype
        self.eu_span = eu_span  # high - low of the EURange, for percent deadbands
        # What the variable was built with (address_space.waiting_value: no value yet),
        # until the first value.
        built = attribute.value
        if built is None:
            raise ValueError("a tag variable is built with its waiting value")
        self.value: bool | int | float | str | None = None
        self.shown = False
        self.status: ua.StatusCode | None = built.StatusCode
        self.source: datetime | None = built.SourceTimestamp
        self.server: datetime | None = built.ServerTimestamp
        self._made: ua.DataValue | None = built
        compute_on_read(attribute, self.read)
        # Reads come here from now on; asyncua's own set_attribute_value_callback drops
        # the stored value the same way.
        attribute.value = None

    def set(self, value: bool | int | float | str | None, shown: bool, status: ua.StatusCode,
            source: datetime | None, server: datetime) -> None:
        """The variable's new Value; `value` is of vtype's Python type when `shown`."""
        self.value = value
        self.shown = shown
        self.status = status
        self.source = source
        self.server = server
        self._made = None

    def data_value(self) -> ua.DataValue:
        """The Value as a DataValue: the same object until the next `set`."""
        made = self._made
        if made is None:
            variant = scalar_variant(self.value, self.vtype) if self.shown else _NULL
            made = self._made = data_value(variant, self.status, self.source, self.server)
        return made

    def read(self, _nodeid: ua.NodeId, _attribute: ua.AttributeIds) -> ua.DataValue:
        """A Read of the Value (asyncua's `value_callback`)."""
        return self.data_value()

    def encoded(self, encoder: DataValueEncoder) -> bytes:
        """The Value's binary encoding, from its parts."""
        encoded = encoder.encode_parts(self.vtype, self.value, self.shown, self.status,
                                       self.source, self.server)
        return encoder.encode(self.data_value()) if encoded is None else encoded
