"""Which metrics the edge node publishes, under which names, aliases and data types.

Built once from the configuration, so a metric keeps its alias for the whole process and
across restarts with the same configuration: data stored in the outbox while the host was
away is replayed with the aliases the next births give again. Aliases are unique across
the edge node (Sparkplug 3.0, tck-id-payloads-alias-uniqueness): the node's own metrics
first, then each device's tags in file order, then each asset's outputs.

Sparkplug devices are the gateway's devices (one metric per tag, named as the tag; the
device id is the device's name) and its assets (their model outputs, named as the OPC UA
variables, and each model's version; the device id is "asset-<asset>", since an asset is
often named as the device it watches). Every metric has a gateway key, "<name>.<metric
name>": the tag key the poll loops use ("<device>.<tag>"), the asset output key
("<asset>.<output>").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from drivers.base import DataType as TagType
from gateway.config.model import AssetConfig, DeviceConfig, TagConfig
from gateway.sparkplug.schema import DataType

BD_SEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
GATEWAY_NAME = "Properties/Gateway"
SOFTWARE_VERSION = "Properties/Software Version"
DEVICES_CONNECTED = "Gateway/Devices Connected"

# Scores' outputs by model kind, named as gateway.core.score.Score.outputs names them.
ASSET_OUTPUTS: MappingProxyType[str, tuple[tuple[str, DataType], ...]] = MappingProxyType({
    "anomaly": (("AnomalyScore", DataType.DOUBLE), ("Anomaly", DataType.BOOLEAN)),
    "rul": (
        ("RemainingUsefulLife", DataType.DOUBLE),
        ("RemainingUsefulLifeLow", DataType.DOUBLE),
        ("RemainingUsefulLifeHigh", DataType.DOUBLE),
    ),
})

_TAG_TYPES: MappingProxyType[TagType, DataType] = MappingProxyType({
    TagType.BOOL: DataType.BOOLEAN,
    TagType.INT16: DataType.INT16,
    TagType.UINT16: DataType.UINT16,
    TagType.INT32: DataType.INT32,
    TagType.UINT32: DataType.UINT32,
    TagType.INT64: DataType.INT64,
    TagType.UINT64: DataType.UINT64,
    TagType.FLOAT32: DataType.FLOAT,
    TagType.FLOAT64: DataType.DOUBLE,
    TagType.STRING: DataType.STRING,
})


def model_version_metric(kind: str) -> str:
    """The metric carrying the version of an asset's model of `kind`."""
    return f"Models/{kind}/Version"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its Sparkplug name, alias and data type, and what its births describe."""

    name: str
    alias: int
    datatype: DataType
    unit: str | None = None
    range: tuple[float, float] | None = None
    writable: bool = False


ASSET_PREFIX = "asset-"


def asset_device_id(asset: str) -> str:
    """The Sparkplug device id of an asset."""
    return f"{ASSET_PREFIX}{asset}"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One Sparkplug device: a gateway device (polled, may die) or an asset (never dies)."""

    device_id: str
    name: str  # the device's or asset's name in the gateway: its keys' first part
    metrics: tuple[MetricSpec, ...]
    polled: bool

    def key(self, spec: MetricSpec) -> str:
        return f"{self.name}.{spec.name}"


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every metric of the edge node, found by gateway key or by device and alias."""

    node: tuple[MetricSpec, ...]
    devices: tuple[DeviceSpec, ...]
    _by_key: dict[str, tuple[str, MetricSpec]] = field(
        default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        for device in self.devices:
            for spec in device.metrics:
                self._by_key[device.key(spec)] = (device.device_id, spec)

    def find(self, key: str) -> tuple[str, MetricSpec] | None:
        """The device id and metric of a gateway key, or None if it is not published."""
        return self._by_key.get(key)

    def device(self, device_id: str) -> DeviceSpec | None:
        for device in self.devices:
            if device.device_id == device_id:
                return device
        return None


def catalogue(
    devices: Sequence[DeviceConfig],
    assets: Sequence[AssetConfig],
    previous: Catalogue | None = None,
) -> Catalogue:
    """The metrics of the configured devices (enabled ones) and assets. Given the previous
    catalogue (the devices were edited while the gateway runs), a metric it had keeps its
    alias and a new one gets a number none had, so no alias changes meaning."""
    aliases = _Aliases(previous)
    # bdSeq is an INT64 (tck-id-message-flow-edge-node-birth-publish-nbirth-payload-bdSeq).
    node = tuple(
        MetricSpec(name, aliases.of(f".{name}"), datatype)
        for name, datatype in (
            (BD_SEQ, DataType.INT64),
            (REBIRTH, DataType.BOOLEAN),
            (GATEWAY_NAME, DataType.STRING),
            (SOFTWARE_VERSION, DataType.STRING),
            (DEVICES_CONNECTED, DataType.INT64),
        )
    )
    specs = [
        DeviceSpec(device.name, device.name,
                   tuple(_tag_metric(tag, aliases.of(f"{device.name}.{tag.name}"))
                         for tag in device.tags),
                   polled=True)
        for device in devices
        if device.enabled
    ]
    for asset in assets:
        metrics = []
        for kind in asset.models():
            names = [*ASSET_OUTPUTS[kind], (model_version_metric(kind), DataType.STRING)]
            metrics += [MetricSpec(name, aliases.of(f"{asset.name}.{name}"), datatype)
                        for name, datatype in names]
        specs.append(DeviceSpec(asset_device_id(asset.name), asset.name, tuple(metrics),
                                polled=False))
    return Catalogue(node, tuple(specs))


class _Aliases:
    """Aliases by gateway key ("." + name for the node's own): the previous catalogue's,
    then numbers above all of them."""

    def __init__(self, previous: Catalogue | None) -> None:
        self._known: dict[str, int] = {}
        if previous is not None:
            self._known = {f".{spec.name}": spec.alias for spec in previous.node}
            for device in previous.devices:
                self._known.update((device.key(spec), spec.alias) for spec in device.metrics)
        self._next = max(self._known.values(), default=-1) + 1

    def of(self, key: str) -> int:
        alias = self._known.get(key)
        if alias is None:
            alias = self._known[key] = self._next
            self._next += 1
        return alias


def _tag_metric(tag: TagConfig, alias: int) -> MetricSpec:
    datatype = _TAG_TYPES[tag.type]
    if tag.type.is_numeric and (tag.scale != 1.0 or tag.offset != 0.0):
        datatype = DataType.DOUBLE  # scaled values are engineering values, not raw integers
    return MetricSpec(tag.name, alias, datatype, unit=tag.unit, range=tag.range,
                      writable=tag.writable)
