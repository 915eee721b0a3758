"""Sparkplug B payloads as the edge node builds and reads them (Sparkplug 3.0, chapters 4
and 6); the tck-ids cited are the specification's normative statements.

A payload is built without its `seq` and send time, and stamped (`stamped`) when it is
handed to paho: seq counts the messages of one MQTT session in the order they go out, and
a data message stored in the outbox while the host was away goes out in a later session.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from gateway.core.quality import Quality
from gateway.core.sample import Value
from gateway.sparkplug.catalogue import BD_SEQ, MetricSpec
from gateway.sparkplug.schema import DataType, Payload

# The 'Quality' property's codes (chapter 6, "Quality Codes"), a signed 32-bit integer
# (tck-id-payloads-propertyset-quality-value-type, -value-value). Uncertain (last usable
# value) is STALE: the value is kept, but old.
QUALITY_KEY = "Quality"
STATUS_KEY = "StatusCode"  # the OPC UA StatusCode of the same quality, for hosts that want it
_BAD, _GOOD, _STALE = 0, 192, 500
_QUALITY_CODES = MappingProxyType({
    quality: _GOOD if quality is Quality.GOOD
    else _STALE if quality is Quality.LAST_USABLE else _BAD
    for quality in Quality
})

_INT32 = {DataType.INT8, DataType.INT16, DataType.INT32, DataType.UINT8, DataType.UINT16}
# UInt32 travels in long_value as Eclipse Tahu (the reference implementation) writes and
# reads it; the specification's table says uint32 (docs/sparkplug.md says why).
_INT64 = {DataType.INT64, DataType.UINT32, DataType.UINT64, DataType.DATETIME}
_STRINGS = {DataType.STRING, DataType.TEXT}


class CommandError(ValueError):
    """A command payload that cannot be read; str() says why."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A metric's value as published: its value, quality (with OPC UA code) and time."""

    value: Value
    quality: Quality
    time: datetime
    status_code: int


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def epoch_now() -> int:
    return int(time.time() * 1000)


def quality_code(quality: Quality) -> int:
    """The Sparkplug 'Quality' property's value for a quality: 0 BAD, 192 GOOD, 500 STALE."""
    return _QUALITY_CODES[quality]


def ndeath(bd_seq: int, now_ms: int) -> bytes:
    """The Will: one metric, bdSeq, and no seq (tck-id-topics-ndeath-payload,
    tck-id-topics-ndeath-seq)."""
    payload = Payload(timestamp=now_ms)
    payload.metrics.add(name=BD_SEQ, timestamp=now_ms, datatype=DataType.INT64, long_value=bd_seq)
    return bytes(payload.SerializeToString())


def birth(specs: Sequence[MetricSpec], readings: Sequence[Reading], now_ms: int) -> Any:
    """NBIRTH or DBIRTH: every metric with name, alias, datatype, current value, timestamp
    and properties (tck-id-topics-nbirth-metrics, tck-id-payloads-alias-birth-requirement,
    tck-id-payloads-metric-datatype-req, tck-id-payloads-name-birth-data-requirement)."""
    payload = Payload(timestamp=now_ms)
    for spec, reading in zip(specs, readings, strict=True):
        metric = _metric(payload, spec, reading, quality_always=True)
        metric.name = spec.name
        _describe(metric, spec)
    return payload


def data(changes: Iterable[tuple[MetricSpec, Reading, bool]], now_ms: int) -> Any:
    """DDATA or NDATA: each change by alias only, never the name
    (tck-id-payloads-alias-data-cmd-requirement); the flag of a change says whether its
    quality property goes along (it does while not Good, and once when Good returns)."""
    payload = Payload(timestamp=now_ms)
    for spec, reading, with_quality in changes:
        _metric(payload, spec, reading, quality_always=with_quality)
    return payload


def stamped(payload: Any, seq: int, now_ms: int, *, historical: bool = False) -> bytes:
    """The payload with its seq and send time, its metrics marked historical if asked."""
    payload.seq = seq
    payload.timestamp = now_ms
    if historical:
        for metric in payload.metrics:
            metric.is_historical = True
    return bytes(payload.SerializeToString())


def named(payload: Any, specs: Sequence[MetricSpec]) -> Any:
    """A data payload with each metric's name added, for the outbox: a stored message is
    read again by name (`resolved`), since aliases may change before it is replayed."""
    for metric, spec in zip(payload.metrics, specs, strict=True):
        metric.name = spec.name
    return payload


def resolved(payload: Any, specs: Sequence[MetricSpec]) -> Any | None:
    """A stored data payload with each metric by its alias now, its name removed; metrics
    no longer published, or of another data type now, are left out (None if none is left)."""
    by_name = {spec.name: spec for spec in specs}
    out = Payload(timestamp=payload.timestamp)
    for metric in payload.metrics:
        spec = by_name.get(metric.name)
        if spec is None or spec.datatype != metric.datatype:
            continue
        kept = out.metrics.add()
        kept.CopyFrom(metric)
        kept.ClearField("name")
        kept.alias = spec.alias
    return out if out.metrics else None


def parse(raw: bytes) -> Any:
    """A received payload (NCMD, DCMD); CommandError if it is not a Sparkplug B payload."""
    try:
        return Payload.FromString(raw)
    except Exception as error:  # noqa: BLE001 - protobuf's DecodeError and what it wraps
        raise CommandError(f"not a Sparkplug B payload: {error}") from None


def command_value(metric: Any, spec: MetricSpec) -> Value:
    """The value a command metric writes, read as the metric's declared data type;
    CommandError when it carries none of that type (tck-id-operational-behavior-data-
    commands-dcmd-metric-value)."""
    expected = _value_field(spec.datatype)
    if metric.is_null or metric.WhichOneof("value") != expected:
        raise CommandError(f"{spec.name}: expects a {spec.datatype.name} value")
    raw = getattr(metric, expected)
    if spec.datatype in (DataType.INT8, DataType.INT16, DataType.INT32):
        return int(raw - (1 << 32) if raw >= 1 << 31 else raw)
    if spec.datatype is DataType.INT64:
        return int(raw - (1 << 64) if raw >= 1 << 63 else raw)
    return raw  # type: ignore[no-any-return]


def _metric(payload: Any, spec: MetricSpec, reading: Reading, *, quality_always: bool) -> Any:
    metric = payload.metrics.add(alias=spec.alias, timestamp=epoch_ms(reading.time),
                                 datatype=spec.datatype)
    _set_value(metric, spec.datatype, reading.value)
    if quality_always or not reading.quality.is_good:
        properties = metric.properties
        properties.keys.append(QUALITY_KEY)
        properties.values.add(type=DataType.INT32, int_value=quality_code(reading.quality))
        properties.keys.append(STATUS_KEY)
        properties.values.add(type=DataType.INT64, long_value=reading.status_code)
    return metric


def _describe(metric: Any, spec: MetricSpec) -> None:
    """Engineering unit and range as the properties SCADA hosts read (engUnit, engLow,
    engHigh: Ignition's tag properties)."""
    properties = metric.properties
    if spec.unit is not None:
        properties.keys.append("engUnit")
        properties.values.add(type=DataType.STRING, string_value=spec.unit)
    if spec.range is not None:
        for key, bound in zip(("engLow", "engHigh"), spec.range, strict=True):
            properties.keys.append(key)
            properties.values.add(type=DataType.DOUBLE, double_value=bound)
    if spec.writable:
        properties.keys.append("writable")
        properties.values.add(type=DataType.BOOLEAN, boolean_value=True)


def _value_field(datatype: DataType) -> str:
    if datatype in _INT32:
        return "int_value"
    if datatype in _INT64:
        return "long_value"
    if datatype is DataType.FLOAT:
        return "float_value"
    if datatype is DataType.DOUBLE:
        return "double_value"
    if datatype is DataType.BOOLEAN:
        return "boolean_value"
    if datatype in _STRINGS:
        return "string_value"
    raise ValueError(f"no value field for {datatype!r}")


def _set_value(metric: Any, datatype: DataType, value: Value) -> None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)
                         and datatype not in (DataType.FLOAT, DataType.DOUBLE)):
        metric.is_null = True  # no value: said so (chapter 6, is_null), never made up
        return
    name = _value_field(datatype)
    if name == "int_value":
        setattr(metric, name, int(value) & 0xFFFF_FFFF)  # two's complement in a uint32
    elif name == "long_value":
        setattr(metric, name, int(value) & 0xFFFF_FFFF_FFFF_FFFF)
    elif name in ("float_value", "double_value"):
        setattr(metric, name, float(value))
    elif name == "boolean_value":
        setattr(metric, name, bool(value))
    else:
        setattr(metric, name, str(value))

