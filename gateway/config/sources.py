"""What an alarm's `source` names: a device tag, or one output of an asset's models.

Tags are `<device>.<tag>`; asset outputs are `<asset>.<output>` with the output named as
its OPC UA variable (AssetHealthType in nodesets/uvelka.xml). A device and an asset may
share a name (the demo's pumps do): the output names are reserved for assets by the asset
checks, so the two kinds of source never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class SourceKind(StrEnum):
    TAG = "tag"
    ASSET = "asset"


@dataclass(frozen=True, slots=True)
class AssetOutput:
    """An asset variable an alarm can watch: which model kind brings it, and its value type."""

    model_kind: str  # "anomaly" | "rul"
    boolean: bool


ASSET_OUTPUTS: MappingProxyType[str, AssetOutput] = MappingProxyType({
    "AnomalyScore": AssetOutput("anomaly", boolean=False),
    "Anomaly": AssetOutput("anomaly", boolean=True),
    "RemainingUsefulLife": AssetOutput("rul", boolean=False),
})


@dataclass(frozen=True, slots=True)
class Source:
    """A resolved alarm source: the device or asset that owns it, and the tag or output."""

    kind: SourceKind
    owner: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.owner}.{self.name}"


def split_source(source: str) -> tuple[str, str] | None:
    """`(owner, name)` of "<owner>.<name>", or None when it has no such shape."""
    owner, dot, name = source.partition(".")
    return (owner, name) if dot and owner and name else None
