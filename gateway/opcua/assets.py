"""Assets in OPC UA: which AssetHealthType variables an asset's models bring, and their values.

- An anomaly model brings AnomalyScore, Anomaly and AnomalyThreshold (the running
  model's threshold, as its decisions use it: `ModelSlot.threshold`, set when a model
  is taken, so a hot swap changes it); a rul model brings RemainingUsefulLife
  (EngineeringUnits from the manifest's output_unit, StartValue and LimitValue = the
  top and bottom of its score_range, as the DI LifetimeVariableType has them) and
  RemainingUsefulLifeLow and High, its prediction interval (issue #13), with the value's
  quality; from a model file without an interval (trained before issue #13) they are
  BadConfigurationError with no value while the value itself is shown, never made up.
  ModelVersion, LastScored, ModelStatus and LastMaintenance (the end of the asset's
  latest maintenance entry, issue #12) are always there.
- AnomalyScore has no EURange (a BaseAnalogType, whose EURange is optional): an anomaly
  score has no top it stays under (the envelope score is a ratio that runs to hundreds on
  a failing bearing while its manifest says 0-10, issue #11), and the manifest holds no
  distribution of scores to derive one from. A range the value routinely leaves would
  scale bar graphs and percent deadbands wrongly; AnomalyThreshold is the score's scale.
- A score's value and its decision carry the StatusCode of the score's quality
  (gateway.opcua.status) and the end of the input window as SourceTimestamp; Bad
  qualities carry no value (Part 4 §7.7.1). LastScored is the time of scoring, Good.
- ModelVersion and ModelStatus show each model kind as "<kind>: <text>", joined with
  "; " in the order anomaly, rul: "anomaly: 3f2c9a1e; rul: 77b0c2d4" and
  "anomaly: ok: 3f2c9a1e; rul: rejected: <reason>". Both, and AnomalyThreshold, wait
  for initial data until the first `publish_model`.
- A model kind whose file was refused at start has no model (issue #17): no manifest, so
  its properties wait for initial data; ModelVersion shows "<kind>: none", and its
  outputs and AnomalyThreshold are BadConfigurationError with no value (the asset's
  model file is what is wrong, and waiting will not bring a value) until a model is
  taken, then its outputs wait for initial data until its first score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from asyncua import ua

from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.opcua.address_space import AssetNodes
from gateway.opcua.asyncua_internals import AttributeValue
from gateway.opcua.datatypes import checked_value
from gateway.opcua.status import keeps_value, status_code
from gateway.opcua.uatypes import data_value, make_status
from gateway.opcua.units import UnitCatalogue

if TYPE_CHECKING:
    # numpy with it: a gateway without assets does not import it (issue #10).
    from analytics.manifest import Manifest

ANOMALY_SCORE = "AnomalyScore"
ANOMALY = "Anomaly"
ANOMALY_THRESHOLD = "AnomalyThreshold"
REMAINING_USEFUL_LIFE = "RemainingUsefulLife"
REMAINING_USEFUL_LIFE_LOW = "RemainingUsefulLifeLow"
REMAINING_USEFUL_LIFE_HIGH = "RemainingUsefulLifeHigh"
_RUL_OUTPUTS = (REMAINING_USEFUL_LIFE, REMAINING_USEFUL_LIFE_LOW, REMAINING_USEFUL_LIFE_HIGH)
MODEL_VERSION = "ModelVersion"
LAST_SCORED = "LastScored"
MODEL_STATUS = "ModelStatus"
LAST_MAINTENANCE = "LastMaintenance"
# OPC UA's null DateTime (Part 6 §5.2.2.5): LastMaintenance of an asset never maintained.
NO_MAINTENANCE = datetime(1601, 1, 1, tzinfo=UTC)

# The optional AssetHealthType variables each model kind brings, in the order kinds show.
KIND_VARIABLES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {"anomaly": (ANOMALY_SCORE, ANOMALY, ANOMALY_THRESHOLD), "rul": _RUL_OUTPUTS}
)
# The outputs each kind's scores set (the rest of its variables come with the model).
_SCORED: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {"anomaly": (ANOMALY_SCORE, ANOMALY), "rul": _RUL_OUTPUTS}
)

_NULL = ua.Variant(None, ua.VariantType.Null)
_GOOD = make_status(ua.StatusCodes.Good)
_NO_MODEL = status_code(Quality.CONFIG_ERROR)
_WAITING = status_code(Quality.WAITING)

Update = tuple[AttributeValue, ua.DataValue, float | None]
"""A Value attribute, its new DataValue and the EURange span for percent deadbands (None:
the variable has no EURange, so a percent deadband reports every change)."""


def optional_variables(kinds: Iterable[str]) -> list[str]:
    """The optional variables of an asset with models of these kinds; ValueError on others."""
    names: list[str] = []
    for kind in kinds:
        if kind not in KIND_VARIABLES:
            raise ValueError(f"unknown model kind {kind!r}; expected one of "
                             f"{', '.join(KIND_VARIABLES)}")
        names += KIND_VARIABLES[kind]
    return names


def property_values(
    kinds: Mapping[str, Manifest | None], units: UnitCatalogue
) -> dict[str, object]:
    """The properties of an asset's variables, by path, from its models' manifests (None:
    the kind has no model yet)."""
    values: dict[str, object] = {}
    rul = kinds.get("rul")
    if rul is not None:
        low, high = rul.score_range
        values[f"{REMAINING_USEFUL_LIFE}.StartValue"] = high
        values[f"{REMAINING_USEFUL_LIFE}.LimitValue"] = low
        if rul.output_unit is not None:  # a valid rul manifest always has one
            unit = units.eu_information(rul.output_unit)
            values[f"{REMAINING_USEFUL_LIFE}.EngineeringUnits"] = unit
    return values


@dataclass(slots=True)
class AssetState:
    """An asset in the address space: its nodes, its model kinds, the model texts shown."""

    name: str
    nodes: AssetNodes
    kinds: tuple[str, ...]
    versions: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    without_model: set[str] = field(default_factory=set)  # kinds shown Bad for it

    @classmethod
    def of(cls, name: str, nodes: AssetNodes, kinds: Iterable[str]) -> AssetState:
        present = set(kinds)
        return cls(name, nodes, tuple(kind for kind in KIND_VARIABLES if kind in present))

    def score_updates(self, score: Score, now: datetime) -> list[Update]:
        """The values a score sets; ValueError for a kind the asset has no model of."""
        if score.kind not in self.kinds:
            raise ValueError(f"a {score.kind} score for asset {self.name!r}, which has "
                             f"{' and '.join(self.kinds)} models only")
        quality = score.quality
        status = status_code(quality)
        shown = keeps_value(quality)
        values = self.nodes.values

        def output(name: str, value: object, vtype: ua.VariantType) -> Update:
            variant = ua.Variant(checked_value(value, vtype), vtype) if shown else _NULL
            return values[name], data_value(variant, status, score.window_end, now), None

        if score.kind == "anomaly":
            updates = [
                output(ANOMALY_SCORE, score.value, ua.VariantType.Double),
                output(ANOMALY, score.anomaly, ua.VariantType.Boolean),
            ]
        else:
            updates = [output(REMAINING_USEFUL_LIFE, score.value, ua.VariantType.Double)]
            if score.interval is not None or not shown:
                low, high = score.interval or (None, None)
                updates.append(output(REMAINING_USEFUL_LIFE_LOW, low, ua.VariantType.Double))
                updates.append(output(REMAINING_USEFUL_LIFE_HIGH, high, ua.VariantType.Double))
            else:  # a model file without an interval: never a made-up one
                updates += self._without_value(_RUL_OUTPUTS[1:], _NO_MODEL, now)
        scored_at = ua.Variant(score.scored_at, ua.VariantType.DateTime)
        updates.append((values[LAST_SCORED], data_value(scored_at, _GOOD, score.scored_at, now),
                        None))
        return updates

    def model_updates(
        self, kind: str, version: str | None, status: str, threshold: float | None,
        now: datetime,
    ) -> list[Update]:
        """The ModelVersion and ModelStatus values after the `kind` model changed (version
        None: the kind has no model), its outputs when it lost or found one, and the
        running anomaly model's `threshold`."""
        if kind not in self.kinds:
            raise ValueError(f"asset {self.name!r} has no {kind} model")
        self.versions[kind] = "none" if version is None else version
        self.statuses[kind] = status
        values = self.nodes.values
        updates: list[Update] = [
            (values[MODEL_VERSION], self._text(self.versions, now), None),
            (values[MODEL_STATUS], self._text(self.statuses, now), None),
        ]
        if version is None:
            self.without_model.add(kind)
            updates += self._without_value(KIND_VARIABLES[kind], _NO_MODEL, now)
            return updates
        if kind in self.without_model:
            self.without_model.discard(kind)
            updates += self._without_value(_SCORED[kind], _WAITING, now)
        if kind == "anomaly" and threshold is not None:
            variant = ua.Variant(threshold, ua.VariantType.Double)
            updates.append((values[ANOMALY_THRESHOLD], data_value(variant, _GOOD, now, now), None))
        return updates

    def maintenance_update(self, finished: datetime | None, now: datetime) -> Update:
        """LastMaintenance: the end of the asset's latest maintenance entry (issue #12),
        the null DateTime when there is none."""
        at = NO_MAINTENANCE if finished is None else finished
        variant = ua.Variant(at, ua.VariantType.DateTime)
        return self.nodes.values[LAST_MAINTENANCE], data_value(variant, _GOOD, now, now), None

    def _without_value(
        self, names: Iterable[str], status: ua.StatusCode, now: datetime
    ) -> list[Update]:
        values = self.nodes.values
        return [(values[name], data_value(_NULL, status, now, now), None) for name in names]

    def _text(self, texts: Mapping[str, str], now: datetime) -> ua.DataValue:
        text = "; ".join(f"{kind}: {texts[kind]}" for kind in self.kinds if kind in texts)
        return data_value(ua.Variant(text, ua.VariantType.String), _GOOD, now, now)
