"""Manifest: JSON round trip, every problem reported with its field, fingerprints."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from analytics.features import DEFAULT_KINDS, FEATURE_VERSION, WindowSpec
from analytics.manifest import (
    METADATA_KEY,
    Manifest,
    ManifestError,
    Recipe,
    TrainingData,
    fingerprint,
    library_versions,
)

SHA = "ab" * 32


def anomaly_manifest(**changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "kind": "anomaly",
        "name": "pump-anomaly",
        "inputs": ("vibration", "current", "pressure"),
        "window": WindowSpec(60, 10),
        "score_range": (0.0, 1.0),
        "threshold": 0.62,
        "hold": 20,
        "data": TrainingData(SHA, "simulator, seed 7, 2 h of normal operation"),
        "seed": 7,
        "recipe": Recipe("isolation-forest", {"n_estimators": 100, "contamination": None}),
        "metrics": {"f1": 0.91, "far": 0.05},
        "created": datetime(2025, 11, 26, 8, 54, 3, tzinfo=UTC),
    }
    return Manifest(**(fields | changes))


def rul_manifest(**changes: Any) -> Manifest:
    fields = {
        "kind": "rul",
        "threshold": None,
        "hold": 0,
        "output_unit": "cycles",
        "score_range": (0, 125),
    }
    return anomaly_manifest(**(fields | changes))


def test_json_round_trip_preserves_every_field() -> None:
    for manifest in (anomaly_manifest(), rul_manifest()):
        text = manifest.to_json()
        again = Manifest.from_json(text)
        assert again == manifest
        assert again.to_json() == text
        assert isinstance(again.inputs, tuple)
        assert isinstance(again.score_range, tuple)


def test_json_layout_is_the_documented_one() -> None:
    raw = json.loads(anomaly_manifest().to_json())
    assert raw == {
        "format": 1,
        "kind": "anomaly",
        "name": "pump-anomaly",
        "inputs": ["vibration", "current", "pressure"],
        "window": {"length": 60, "step": 10},
        "feature_version": FEATURE_VERSION,
        "feature_kinds": list(DEFAULT_KINDS),
        "threshold": 0.62,
        "hold": 20,
        "score_range": [0.0, 1.0],
        "output_unit": None,
        "data": {"sha256": SHA, "source": "simulator, seed 7, 2 h of normal operation"},
        "metrics": {"f1": 0.91, "far": 0.05},
        "created": "2025-11-26T08:54:03Z",
        "versions": raw["versions"],
        "seed": 7,
        "recipe": {
            "name": "isolation-forest",
            "params": {"n_estimators": 100, "contamination": None},
        },
    }
    assert {"python", "numpy", "onnxruntime", "scikit-learn"} <= raw["versions"].keys()
    assert METADATA_KEY == "uvelka.manifest"


def test_defaults_and_normalisation() -> None:
    manifest = anomaly_manifest(
        inputs=["a", "b"],
        score_range=[0, 2],
        threshold=1,
        created=datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
    )
    assert manifest.inputs == ("a", "b")
    assert manifest.score_range == (0.0, 2.0)
    assert manifest.threshold == 1.0
    assert manifest.created == datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert manifest.feature_version == FEATURE_VERSION
    assert manifest.feature_kinds == DEFAULT_KINDS
    bare = Manifest(
        kind="anomaly",
        name="bare",
        inputs=("a",),
        window=WindowSpec(2, 1),
        score_range=(0, 1),
        threshold=0.5,
        data=TrainingData(SHA, "x"),
        seed=0,
        recipe=Recipe("r", {}),
    )
    assert bare.hold == 0
    assert manifest.versions == library_versions()
    assert manifest.n_features == 2 * len(DEFAULT_KINDS)
    assert manifest.feature_names()[:2] == ["a.mean", "a.std"]
    fresh = anomaly_manifest(created=datetime.now(UTC))
    assert fresh.created.microsecond == 0


def test_decision_rule_is_score_above_threshold() -> None:
    flags = anomaly_manifest(threshold=0.5).is_anomalous(np.array([0.4, 0.5, 0.51]))
    assert flags.tolist() == [False, False, True]
    with pytest.raises(ValueError, match="no threshold"):
        rul_manifest().is_anomalous(np.array([1.0]))


def test_a_file_written_before_hold_existed_loads_with_no_hold() -> None:
    raw = json.loads(anomaly_manifest().to_json())
    del raw["hold"]
    assert Manifest.from_dict(raw) == anomaly_manifest(hold=0)


def problems_of(raw: object) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Manifest.from_dict(raw)
    assert isinstance(caught.value, ValueError)
    return caught.value.problems


def test_missing_fields_are_all_listed() -> None:
    raw = json.loads(anomaly_manifest().to_json())
    for name in ("inputs", "seed", "created"):
        del raw[name]
    assert problems_of(raw) == ["inputs: missing", "created: missing", "seed: missing"]


def test_wrong_types_name_the_field_path() -> None:
    raw = json.loads(anomaly_manifest().to_json())
    raw["inputs"][1] = 3
    raw["window"] = {"length": "60", "step": 10}
    raw["metrics"]["f1"] = "high"
    raw["threshold"] = True
    raw["extra"] = 1
    raw["format"] = 2
    assert problems_of(raw) == [
        "format: this library reads format 1, got 2",
        "unknown field(s): extra",
        "inputs[1]: must be a string, got the number 3",
        "window.length: must be an integer, got a string",
        "threshold: must be a number, got a boolean",
        "metrics.f1: must be a number, got a string",
    ]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"window": {"length": 1, "step": 1}}, "window: window length must be an integer >= 2"),
        ({"window": {"length": 5}}, "window: missing step"),
        ({"created": "2025-11-26T08:54:03"}, "created: needs a UTC offset"),
        ({"created": "yesterday"}, "created: not an ISO 8601 date and time"),
        ({"score_range": [0]}, "score_range: must be an array [low, high]"),
        ({"recipe": {"name": "x"}}, "recipe: missing params"),
        ({"data": "somewhere"}, "data: must be an object, got a string"),
        ({"hold": 2.5}, "hold: must be an integer, got the number 2.5"),
    ],
)
def test_structural_problems(change: dict[str, Any], problem: str) -> None:
    raw = json.loads(anomaly_manifest().to_json()) | change
    assert problems_of(raw)[0].startswith(problem)


def test_text_that_is_not_a_json_object() -> None:
    with pytest.raises(ManifestError, match="not JSON"):
        Manifest.from_json("{kind: anomaly")
    with pytest.raises(ManifestError, match="must be a JSON object, got an array"):
        Manifest.from_json("[1, 2]")


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: anomaly_manifest(kind="forecast"), "kind: must be one of anomaly, rul"),
        (lambda: anomaly_manifest(name=" "), "name: must be a non-empty string"),
        (lambda: anomaly_manifest(inputs=()), "inputs: must be a non-empty list"),
        (lambda: anomaly_manifest(inputs=("a", "b", "a")), "inputs: listed more than once: a"),
        (lambda: anomaly_manifest(feature_kinds=("mean", "")), "feature_kinds: every name"),
        (lambda: anomaly_manifest(threshold=None), "threshold: an anomaly model needs"),
        (lambda: anomaly_manifest(threshold=float("nan")), "threshold: an anomaly model needs"),
        (lambda: anomaly_manifest(threshold=2.0), "threshold: 2.0 lies outside score_range"),
        (lambda: anomaly_manifest(score_range=(1, 1)), "score_range: must be two finite"),
        (lambda: anomaly_manifest(output_unit="%"), "output_unit: an anomaly score has no unit"),
        (lambda: rul_manifest(output_unit=None), "output_unit: a rul model needs one"),
        (lambda: rul_manifest(threshold=10.0), "threshold: a rul model has none"),
        (lambda: rul_manifest(hold=5), "hold: a rul model has no decision to hold (got 5)"),
        (lambda: anomaly_manifest(hold=-1), "hold: must be an integer >= 0, in windows"),
        (lambda: anomaly_manifest(hold=True), "hold: must be an integer >= 0, in windows"),
        (lambda: anomaly_manifest(data=TrainingData("AB" * 32, "x")), "data.sha256: must be 64"),
        (lambda: anomaly_manifest(data=TrainingData(SHA, "")), "data.source: must describe"),
        (lambda: anomaly_manifest(metrics={"f1": float("inf")}), "metrics: must map names"),
        (lambda: anomaly_manifest(seed=-1), "seed: must be an integer >= 0"),
        (lambda: anomaly_manifest(created=datetime(2025, 1, 1)), "created: must be an aware"),
        (lambda: anomaly_manifest(recipe=Recipe("", {})), "recipe.name: must be a non-empty"),
        (
            lambda: anomaly_manifest(recipe=Recipe("x", {"bands": {1, 2}})),
            "recipe.params: must hold only finite JSON values",
        ),
    ],
)
def test_semantic_problems(build: Any, problem: str) -> None:
    with pytest.raises(ManifestError) as caught:
        build()
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_all_semantic_problems_come_at_once() -> None:
    with pytest.raises(ManifestError) as caught:
        rul_manifest(name="", seed=-3, output_unit=None)
    assert [p.split(":")[0] for p in caught.value.problems] == ["name", "output_unit", "seed"]
    assert str(caught.value).startswith("invalid manifest: name: must be a non-empty string")


def test_manifest_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        anomaly_manifest().name = "other"  # type: ignore[misc]


def test_fingerprint_depends_on_values_dtype_shape_and_order() -> None:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    digest = fingerprint(a, np.array([1, 0, 1]))
    assert len(digest) == 64
    assert fingerprint(a.copy(), np.array([1, 0, 1])) == digest
    assert fingerprint(np.asfortranarray(a), np.array([1, 0, 1])) == digest  # C order always
    variants = [
        fingerprint(a.astype(np.float32), np.array([1, 0, 1])),
        fingerprint(a.reshape(4, 3), np.array([1, 0, 1])),
        fingerprint(a + 1e-12, np.array([1, 0, 1])),
        fingerprint(np.array([1, 0, 1]), a),
        fingerprint(a),
    ]
    assert digest not in variants
    assert len(set(variants)) == len(variants)


def test_inner_objects_list_their_missing_and_unknown_keys_on_one_line_each() -> None:
    raw = json.loads(anomaly_manifest().to_json())
    raw["data"] = {"sha256": SHA}
    raw["recipe"] |= {"z": 1, "a": 2}
    raw["score_range"] = []
    raw["created"] = 20251126
    raw["versions"]["numpy"] = 2
    assert problems_of(raw) == [
        "score_range: must be an array [low, high], got an array",
        "data: missing source",
        "created: must be a string, got the number 20251126",
        "versions.numpy: must be a string, got the number 2",
        "recipe: unknown field(s) a, z",
    ]
