"""A model's manifest: what it computes from which signals, and how it was trained.

The manifest travels inside the ONNX file (metadata_props key `METADATA_KEY`, JSON text),
so a model file is self-describing: the gateway checks it against an asset's mapping
before scoring, and an operator can tell which data, recipe and library versions made it.
Field meanings are in analytics/README.md.

Two checks, in this order: the JSON layout, type by type, by the pydantic models of this
module (`_Document`; strict: JSON has no "60" for 60 and no true for 1), whose errors are
rewritten as "<key path>: <problem>" lines; then the rules between fields, on the
constructed `Manifest` (`_semantic_problems`), which also guard a manifest a recipe builds
in Python.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Strict,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic import dataclasses as pydantic_dataclasses
from pydantic_core import ErrorDetails

from analytics.features import DEFAULT_KINDS, FEATURE_VERSION, WindowSpec, feature_names
from analytics.rul_features import RulFeatureSpec
from analytics.rul_interval import RulInterval

METADATA_KEY = "uvelka.manifest"
# Version of the JSON layout below (not of the features): bump on an incompatible change.
MANIFEST_FORMAT = 1

Kind = Literal["anomaly", "rul"]
KINDS: tuple[str, ...] = ("anomaly", "rul")

# The distributions whose versions decide what a model computes, recorded at training.
RECORDED_DISTRIBUTIONS: tuple[str, ...] = (
    "numpy",
    "scipy",
    "scikit-learn",
    "skl2onnx",
    "onnx",
    "onnxruntime",
)

_SHA256 = re.compile(r"[0-9a-f]{64}")

# Every JSON object of the layout is closed: an unknown key is a problem, never ignored.
# The validators are built at the first model load, not at import: the gateway imports
# this module without assets too, and building them costs ~20 ms (issue #10).
# The dataclasses say frozen in their decorator (pydantic warns when both do).
_CLOSED = ConfigDict(extra="forbid", defer_build=True)
_CLOSED_FROZEN = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ManifestError(ValueError):
    """A manifest is missing, not JSON, or has missing or invalid fields (all listed)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid manifest: " + "; ".join(self.problems))


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 hex of arrays' dtypes, shapes and values (C order): the training data's id."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def library_versions(distributions: Sequence[str] = RECORDED_DISTRIBUTIONS) -> dict[str, str]:
    """Installed versions of `distributions` (absent ones skipped) and of Python."""
    # Training-time only: importlib.metadata costs the gateway's start ~17 ms.
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@pydantic_dataclasses.dataclass(frozen=True, slots=True, config=_CLOSED)
class TrainingData:
    """Fingerprint (sha256 hex, see `fingerprint`) and description of the training data."""

    sha256: StrictStr
    source: StrictStr


@pydantic_dataclasses.dataclass(frozen=True, slots=True, config=_CLOSED)
class Recipe:
    """The training recipe's name and its parameters (JSON values)."""

    name: StrictStr
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything the gateway and an operator need to know about one model file.

    Validated on construction (ManifestError lists every problem). The dicts are copied
    but, as in any frozen dataclass, not frozen themselves: do not mutate them.
    """

    kind: Kind
    name: str
    inputs: tuple[str, ...]
    window: WindowSpec
    score_range: tuple[float, float]
    data: TrainingData
    seed: int
    recipe: Recipe
    feature_kinds: tuple[str, ...] = DEFAULT_KINDS
    feature_version: int = FEATURE_VERSION
    threshold: float | None = None
    hold: int = 0  # windows the decision stays on after the score falls back (off-delay)
    output_unit: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    versions: dict[str, str] = field(default_factory=library_versions)
    # A rul model on buffer features (analytics.rul_features) instead of `extract`'s.
    rul_features: RulFeatureSpec | None = None
    # A rul model's prediction interval (issue #13); None in files trained before it.
    rul_interval: RulInterval | None = None

    def __post_init__(self) -> None:
        # Normalise what JSON and callers spell loosely, so a round trip compares equal;
        # values of a wrong type stay as they are for _semantic_problems to report.
        normal: dict[str, Any] = {}
        for name in ("inputs", "feature_kinds"):
            if _is_sequence(getattr(self, name)):
                normal[name] = tuple(getattr(self, name))
        for name in ("metrics", "versions"):
            if isinstance(getattr(self, name), Mapping):
                normal[name] = dict(getattr(self, name))
        if _is_sequence(self.score_range) and all(map(_is_number, self.score_range)):
            normal["score_range"] = tuple(float(v) for v in self.score_range)
        if _is_number(self.threshold):
            normal["threshold"] = float(self.threshold)  # type: ignore[arg-type]
        if isinstance(self.created, datetime) and self.created.tzinfo is not None:
            # Whole seconds in UTC: exactly what to_json writes.
            normal["created"] = self.created.astimezone(UTC).replace(microsecond=0)
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        problems = _semantic_problems(self)
        if problems:
            raise ManifestError(problems)

    @property
    def n_features(self) -> int:
        """Number of feature columns the model takes: one per input signal and kind.

        With `rul_features`: one per featurised signal and kind, plus `cycle`.
        """
        if self.rul_features is not None:
            return self.rul_features.n_features
        return len(self.inputs) * len(self.feature_kinds)

    def feature_names(self) -> list[str]:
        """The model's input columns, "<signal>.<kind>", in order (then "cycle": rul_features)."""
        if self.rul_features is not None:
            return self.rul_features.feature_names()
        return feature_names(self.inputs, self.feature_kinds)

    def is_anomalous(self, scores: np.ndarray) -> np.ndarray:
        """Score > threshold, per window, before the `hold` (boolean per score)."""
        if self.threshold is None:
            raise ValueError(f"model {self.name!r} is a {self.kind} model: it has no threshold")
        return np.asarray(scores) > self.threshold

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready values, in the documented layout."""
        # `rul_features` only when present: other files stay readable by older versions.
        extra = {} if self.rul_features is None else {"rul_features": self.rul_features.to_dict()}
        if self.rul_interval is not None:
            extra["rul_interval"] = self.rul_interval.to_dict()
        return {
            "format": MANIFEST_FORMAT,
            "kind": self.kind,
            "name": self.name,
            "inputs": list(self.inputs),
            "window": {"length": self.window.length, "step": self.window.step},
            "feature_version": self.feature_version,
            "feature_kinds": list(self.feature_kinds),
            "threshold": self.threshold,
            "hold": self.hold,
            "score_range": list(self.score_range),
            "output_unit": self.output_unit,
            "data": {"sha256": self.data.sha256, "source": self.data.source},
            "metrics": dict(self.metrics),
            "created": self.created.isoformat().replace("+00:00", "Z"),
            "versions": dict(self.versions),
            "seed": self.seed,
            "recipe": {"name": self.recipe.name, "params": self.recipe.params},
            **extra,
        }

    def to_json(self) -> str:
        """Compact JSON text (strict: no NaN), the value stored in the ONNX metadata."""
        return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse and validate JSON text; raise ManifestError listing every problem."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError([f"not JSON: {exc}"]) from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: object) -> Manifest:
        """Validate JSON values (as `to_dict` writes them); raise ManifestError on problems."""
        if not isinstance(raw, dict):
            raise ManifestError([f"must be a JSON object, got {_json_type(raw)}"])
        problems: list[str] = []
        if raw.get("format") != MANIFEST_FORMAT:
            problems.append(
                f"format: this library reads format {MANIFEST_FORMAT}, got {raw.get('format')!r}"
            )
        try:
            document = _Document.model_validate({k: v for k, v in raw.items() if k != "format"})
        except ValidationError as exc:
            problems += _layout_problems(exc)
        if problems:
            raise ManifestError(problems)
        return document.manifest()


def _is_sequence(value: object) -> bool:
    return isinstance(value, list | tuple)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if _is_number(value):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)


# The JSON layout, format 1 (analytics/README.md). Strict scalars: a JSON string "60" is
# not the integer 60, and true is not a number. _Number takes an integer too.
_Number = Annotated[float, Strict()]
_Names = tuple[StrictStr, ...]
_Row = tuple[_Number, ...]


def _created(value: object) -> datetime:
    """`created` as `to_dict` writes it: ISO 8601 text with a UTC offset."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_json_type(value)}")
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date and time: {value!r}") from None
    if created.tzinfo is None:
        raise ValueError(f"needs a UTC offset, e.g. 2025-01-31T12:00:00Z (got {value!r})")
    return created


class _Window(BaseModel):
    model_config = _CLOSED_FROZEN

    length: StrictInt
    step: StrictInt

    @model_validator(mode="after")
    def _is_a_window(self) -> _Window:
        self.spec()  # its ValueError becomes a problem at the path "window"
        return self

    def spec(self) -> WindowSpec:
        return WindowSpec(self.length, self.step)


class _RulFeatures(BaseModel):
    model_config = _CLOSED_FROZEN

    signals: _Names
    conditions: _Names
    centres: list[_Row]
    mean: list[_Row]
    std: list[_Row]
    buffer: StrictInt
    recent: StrictInt
    baseline: StrictInt
    alphas: tuple[_Number, ...]
    sample_period_s: _Number | None

    @model_validator(mode="after")
    def _is_a_spec(self) -> _RulFeatures:
        self.spec()  # its ValueError becomes a problem at the path "rul_features"
        return self

    def spec(self) -> RulFeatureSpec:
        return RulFeatureSpec(**dict(self))


class _RulInterval(BaseModel):
    model_config = _CLOSED_FROZEN

    nominal: _Number
    knots: tuple[_Number, ...]
    lower: tuple[_Number, ...]
    upper: tuple[_Number, ...]
    method: StrictStr

    @model_validator(mode="after")
    def _is_an_interval(self) -> _RulInterval:
        self.interval()  # its ValueError becomes a problem at the path "rul_interval"
        return self

    def interval(self) -> RulInterval:
        return RulInterval(**dict(self))


class _Document(BaseModel):
    """A manifest's JSON object less `format` (checked before), fields in layout order."""

    model_config = _CLOSED_FROZEN

    kind: StrictStr  # Manifest names the kinds: one message from JSON and from Python
    name: StrictStr
    inputs: _Names
    window: _Window
    feature_version: StrictInt
    feature_kinds: _Names
    threshold: _Number | None
    # Added after format 1 was first written: a file without it loads with no hold.
    hold: StrictInt = 0
    score_range: tuple[_Number, _Number]
    output_unit: StrictStr | None
    data: TrainingData
    metrics: dict[str, _Number]
    created: Annotated[datetime, BeforeValidator(_created)]
    versions: dict[str, StrictStr]
    seed: StrictInt
    recipe: Recipe
    # Absent from the files of models without buffer features.
    rul_features: _RulFeatures | None = None
    # Absent from the files of models without an interval (rul models before issue #13).
    rul_interval: _RulInterval | None = None

    def manifest(self) -> Manifest:
        fields = dict(self)  # the nested models become what Manifest holds
        fields["window"] = self.window.spec()
        fields["rul_features"] = None if self.rul_features is None else self.rul_features.spec()
        fields["rul_interval"] = None if self.rul_interval is None else self.rul_interval.interval()
        return Manifest(**fields)


# Pydantic's error types in the words of "<path>: must be <what>, got <JSON value>".
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "dict_type": "an object",
    "model_type": "an object",
    "dataclass_type": "an object",
}
_KEY_ERRORS = {"missing", "extra_forbidden", "unexpected_keyword_argument"}
_ARRAY_ERRORS = {"list_type", "tuple_type", "too_short", "too_long"}
# What an array holds, by its key; a row of a matrix holds numbers, any other array names.
_ARRAYS = {
    "score_range": "an array [low, high]",
    "alphas": "an array of numbers",
    "knots": "an array of numbers",
    "lower": "an array of numbers",
    "upper": "an array of numbers",
    "centres": "an array of rows",
    "mean": "an array of rows",
    "std": "an array of rows",
}


def _layout_problems(error: ValidationError) -> list[str]:
    """`_Document`'s errors as "<key path>: <problem>" lines, in the layout's field order.

    A missing field of the document is one line each; the missing keys of an inner object
    share one line, as do its unknown keys; the document's unknown keys come first.
    """
    unknown: list[str] = []
    problems: list[str] = []
    keys: dict[str, list[str]] = {}  # a line "<object>: missing" -> the keys it lists
    for details in error.errors():
        loc, kind, key = details["loc"], details["type"], str(details["loc"][-1])
        if kind not in _KEY_ERRORS or isinstance(loc[-1], int):  # an item of [low, high]
            if (line := _problem(details)) not in problems:  # [] misses low and high
                problems.append(line)
        elif len(loc) > 1:
            head = f"{_path(loc[:-1])}: {'missing' if kind == 'missing' else 'unknown field(s)'}"
            if head not in keys:
                problems.append(head)
            keys.setdefault(head, []).append(key)
        elif kind == "missing":
            problems.append(f"{key}: missing")
        else:
            unknown.append(key)
    if unknown:
        problems.insert(0, f"unknown field(s): {', '.join(sorted(unknown))}")
    # Missing keys in layout order, unknown ones sorted.
    return [
        line
        if line not in keys
        else f"{line} {', '.join(keys[line] if line.endswith('missing') else sorted(keys[line]))}"
        for line in problems
    ]


def _problem(details: ErrorDetails) -> str:
    loc, kind, value = details["loc"], details["type"], details["input"]
    if kind == "value_error":
        return f"{_path(loc)}: {details.get('ctx', {}).get('error')}"
    if kind in _ARRAY_ERRORS or kind == "missing":  # missing: an item of [low, high]
        array = loc if kind in _ARRAY_ERRORS else loc[:-1]
        holds = (
            "an array of numbers"
            if isinstance(array[-1], int)
            else _ARRAYS.get(str(array[-1]), "an array of strings")
        )
        return f"{_path(array)}: must be {holds}, got {_json_type(value)}"
    if kind in _EXPECTED:
        return f"{_path(loc)}: must be {_EXPECTED[kind]}, got {_json_type(value)}"
    return f"{_path(loc)}: {details['msg']}"  # no other error type is known to occur


def _path(loc: tuple[int | str, ...]) -> str:
    """("rul_features", "mean", 0) -> "rul_features.mean[0]"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


def _semantic_problems(m: Manifest) -> list[str]:
    """Every rule a constructed manifest breaks, as "field: problem" lines."""
    problems: list[str] = []
    if m.kind not in KINDS:
        problems.append(f"kind: must be one of {', '.join(KINDS)} (got {m.kind!r})")
    if not isinstance(m.name, str) or not m.name.strip():
        problems.append(f"name: must be a non-empty string (got {m.name!r})")
    problems += _name_list_problems("inputs", m.inputs)
    if not isinstance(m.window, WindowSpec):
        problems.append(f"window: must be a WindowSpec (got {m.window!r})")
    if isinstance(m.feature_version, bool) or not isinstance(m.feature_version, int):
        problems.append(f"feature_version: must be an integer (got {m.feature_version!r})")
    problems += _name_list_problems("feature_kinds", m.feature_kinds)
    problems += _score_problems(m)
    if not isinstance(m.data, TrainingData):
        problems.append(f"data: must be a TrainingData (got {m.data!r})")
    else:
        if not isinstance(m.data.sha256, str) or not _SHA256.fullmatch(m.data.sha256):
            problems.append(f"data.sha256: must be 64 lowercase hex digits (got {m.data.sha256!r})")
        if not isinstance(m.data.source, str) or not m.data.source.strip():
            problems.append("data.source: must describe where the training data came from")
    if not isinstance(m.metrics, dict) or not all(
        isinstance(k, str) and _is_number(v) and math.isfinite(v) for k, v in m.metrics.items()
    ):
        problems.append(f"metrics: must map names to finite numbers (got {m.metrics!r})")
    if not isinstance(m.created, datetime) or m.created.tzinfo is None:
        problems.append(f"created: must be an aware datetime (got {m.created!r})")
    if not isinstance(m.versions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in m.versions.items()
    ):
        problems.append(f"versions: must map names to version strings (got {m.versions!r})")
    if isinstance(m.seed, bool) or not isinstance(m.seed, int) or m.seed < 0:
        problems.append(f"seed: must be an integer >= 0 (got {m.seed!r})")
    problems += _recipe_problems(m.recipe)
    problems += _rul_features_problems(m)
    if m.rul_interval is not None:
        if not isinstance(m.rul_interval, RulInterval):
            problems.append(f"rul_interval: must be a RulInterval (got {m.rul_interval!r})")
        elif m.kind != "rul":
            problems.append(f"rul_interval: only a rul model has one (kind {m.kind!r})")
    return problems


def _rul_features_problems(m: Manifest) -> list[str]:
    """The buffer features must be what the generic fields say: inputs, window, kinds."""
    spec = m.rul_features
    if spec is None:
        return []
    if not isinstance(spec, RulFeatureSpec):
        return [f"rul_features: must be a RulFeatureSpec (got {spec!r})"]
    problems = []
    if m.kind != "rul":
        problems.append(f"rul_features: only a rul model has them (kind {m.kind!r})")
    # Inputs and kinds that are not lists at all are reported by _name_list_problems.
    if isinstance(m.inputs, tuple) and m.inputs != spec.inputs:
        problems.append(
            f"inputs: must be rul_features' signals then conditions {list(spec.inputs)}"
            f" (got {list(m.inputs)})"
        )
    if isinstance(m.window, WindowSpec) and (m.window.length, m.window.step) != (spec.buffer, 1):
        problems.append(
            f"window: must be length {spec.buffer} (rul_features.buffer), step 1"
            f" (got {m.window.length}, {m.window.step})"
        )
    if isinstance(m.feature_kinds, tuple) and m.feature_kinds != spec.kinds:
        problems.append(
            f"feature_kinds: must be rul_features' kinds {list(spec.kinds)}"
            f" (got {list(m.feature_kinds)})"
        )
    return problems


def _name_list_problems(path: str, names: object) -> list[str]:
    if not isinstance(names, tuple) or not names:
        return [f"{path}: must be a non-empty list of names (got {names!r})"]
    if not all(isinstance(n, str) and n.strip() for n in names):
        return [f"{path}: every name must be a non-empty string (got {list(names)!r})"]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return [f"{path}: listed more than once: {', '.join(repeated)}"]
    return []


def _score_problems(m: Manifest) -> list[str]:
    problems = []
    lo_hi = m.score_range
    range_ok = (
        isinstance(lo_hi, tuple)
        and len(lo_hi) == 2
        and all(_is_number(v) and math.isfinite(v) for v in lo_hi)
        and lo_hi[0] < lo_hi[1]
    )
    if not range_ok:
        problems.append(f"score_range: must be two finite numbers, low < high (got {lo_hi!r})")
    if m.kind == "anomaly":
        if not _is_number(m.threshold) or not math.isfinite(m.threshold):  # type: ignore[arg-type]
            problems.append(
                f"threshold: an anomaly model needs a finite number (got {m.threshold!r})"
            )
        elif range_ok and not lo_hi[0] <= m.threshold <= lo_hi[1]:  # type: ignore[operator]
            problems.append(f"threshold: {m.threshold} lies outside score_range {list(lo_hi)}")
        if m.output_unit is not None:
            problems.append(f"output_unit: an anomaly score has no unit (got {m.output_unit!r})")
    elif m.kind == "rul":
        if m.threshold is not None:
            problems.append(
                "threshold: a rul model has none (limits on the remaining life belong to alarms)"
            )
        if not isinstance(m.output_unit, str) or not m.output_unit.strip():
            problems.append(f"output_unit: a rul model needs one, e.g. 'h' (got {m.output_unit!r})")
    if isinstance(m.hold, bool) or not isinstance(m.hold, int) or m.hold < 0:
        problems.append(f"hold: must be an integer >= 0, in windows (got {m.hold!r})")
    elif m.kind == "rul" and m.hold != 0:
        problems.append(f"hold: a rul model has no decision to hold (got {m.hold})")
    return problems


def _recipe_problems(recipe: object) -> list[str]:
    if not isinstance(recipe, Recipe):
        return [f"recipe: must be a Recipe (got {recipe!r})"]
    problems = []
    if not isinstance(recipe.name, str) or not recipe.name.strip():
        problems.append(f"recipe.name: must be a non-empty string (got {recipe.name!r})")
    if not isinstance(recipe.params, dict):
        problems.append(f"recipe.params: must be a dict (got {recipe.params!r})")
    else:
        try:
            json.dumps(recipe.params, allow_nan=False)
        except (TypeError, ValueError) as exc:
            problems.append(f"recipe.params: must hold only finite JSON values ({exc})")
    return problems
