"""Train -> export -> load: the ONNX score equals scikit-learn's, and bad files are refused."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import helper
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from analytics.features import FEATURE_VERSION, WindowSpec, extract, sliding_windows
from analytics.inference import Model, ModelError
from analytics.manifest import METADATA_KEY, Manifest, Recipe, TrainingData, fingerprint
from analytics.training.export import (
    ExportError,
    QuadraticScore,
    default_dtype,
    export_onnx,
    reference_scores,
    to_onnx,
    verify,
)

SIGNALS = ("vibration", "current", "pressure", "flow")
WINDOW = WindowSpec(30, 5)


@pytest.fixture(scope="module")
def features() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of a drifting multivariate series: train rows, held-out rows, a target."""
    rng = np.random.default_rng(11)
    n = 4000
    drift = np.linspace(0, 3, n)[:, None]
    series = rng.normal(size=(n, 4)) * [0.2, 1.0, 5.0, 0.01] + [1, 20, 300, 0.5] + drift
    x = extract(sliding_windows(series, WINDOW))
    target = 125 - np.linspace(0, 125, len(x)) + rng.normal(scale=2, size=len(x))
    return x[::2], x[1::2], target[::2]


def manifest_for(kind: str, **changes: Any) -> Manifest:
    fields: dict[str, Any] = {
        "kind": kind,
        "name": f"test-{kind}",
        "inputs": SIGNALS,
        "window": WINDOW,
        "data": TrainingData(fingerprint(np.zeros(3)), "synthetic drift"),
        "seed": 0,
        "recipe": Recipe("test", {}),
    }
    if kind == "anomaly":
        # Wide enough for every detector here (a forest's score is in (0, 1], T² is not).
        fields |= {"score_range": (0.0, 1000.0), "threshold": 0.6}
    else:
        fields |= {"score_range": (0.0, 150.0), "output_unit": "cycles"}
    return Manifest(**(fields | changes))


def fitted_models(train: np.ndarray, target: np.ndarray) -> dict[str, tuple[Any, str]]:
    scaler = StandardScaler().fit(train)
    pca = PCA(n_components=5, random_state=0).fit(scaler.transform(train))
    return {
        "isolation forest": (
            IsolationForest(n_estimators=50, random_state=0).fit(train),
            "anomaly",
        ),
        "isolation forest, feature subsets": (
            IsolationForest(n_estimators=30, max_features=0.5, bootstrap=True, random_state=1).fit(
                train
            ),
            "anomaly",
        ),
        "isolation forest in a pipeline": (
            make_pipeline(StandardScaler(), IsolationForest(n_estimators=10, random_state=0)).fit(
                train
            ),
            "anomaly",
        ),
        "gradient boosting": (
            GradientBoostingRegressor(n_estimators=50, random_state=0).fit(train, target),
            "rul",
        ),
        "classifier": (
            RandomForestClassifier(n_estimators=20, random_state=0).fit(train, target < 30),
            "anomaly",
        ),
        "scaled ridge": (make_pipeline(StandardScaler(), Ridge()).fit(train, target), "rul"),
        "PCA T2 and Q": (QuadraticScore.from_pca(scaler, pca, weights=(0.1, 0.2)), "anomaly"),
    }


MODEL_NAMES = [
    "isolation forest",
    "isolation forest, feature subsets",
    "isolation forest in a pipeline",
    "gradient boosting",
    "classifier",
    "scaled ridge",
    "PCA T2 and Q",
]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_exported_model_reproduces_scikit_learn(
    name: str, features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, held, target = features
    estimator, kind = fitted_models(train, target)[name]
    manifest = manifest_for(kind)
    path = tmp_path / "model.onnx"
    export_onnx(estimator, train.shape[1], manifest, path)

    assert verify(estimator, path, held, atol=1e-4) <= 1e-4
    model = Model.load(path)
    assert model.manifest == manifest
    scores = model.score(held)
    assert scores.dtype == np.float64
    assert scores.shape == (len(held),)
    np.testing.assert_allclose(scores, reference_scores(estimator, held), atol=1e-4)
    assert np.ptp(scores) > 0  # a constant score would pass the comparison and mean nothing
    model.smoke_test()
    expected_dtype = np.float32 if default_dtype(estimator) == "float32" else np.float64
    assert model.input_dtype is expected_dtype


def test_reference_scores_follow_the_documented_conventions(
    features: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    train, held, target = features
    models = fitted_models(train, target)
    forest = models["isolation forest"][0]
    scores = reference_scores(forest, held)
    np.testing.assert_array_equal(scores, -forest.score_samples(held))
    assert ((scores > 0) & (scores <= 1)).all()
    classifier = models["classifier"][0]
    np.testing.assert_array_equal(
        reference_scores(classifier, held), classifier.predict_proba(held)[:, 1]
    )
    assert default_dtype(forest) == "float32"
    assert default_dtype(models["scaled ridge"][0]) == "float64"


def test_pca_terms_are_hotelling_t2_and_squared_prediction_error(
    features: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    train, held, _ = features
    scaler = StandardScaler().fit(train)
    pca = PCA(n_components=4).fit(scaler.transform(train))
    z = scaler.transform(held)
    projected = pca.transform(z)
    t2 = (projected**2 / pca.explained_variance_).sum(axis=1)
    q = ((z - pca.inverse_transform(projected)) ** 2).sum(axis=1)

    detector = QuadraticScore.from_pca(scaler, pca)
    np.testing.assert_allclose(detector.terms(held), np.column_stack([t2, q]), rtol=1e-9)
    np.testing.assert_allclose(detector.score_samples(held), t2 + q, rtol=1e-9)
    limits = dataclasses.replace(detector, weights=(1 / 20.0, 1 / 5.0), combine="max")
    np.testing.assert_allclose(limits.score_samples(held), np.maximum(t2 / 20, q / 5), rtol=1e-9)


def test_manifest_must_describe_the_feature_count(
    features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, _, _ = features
    forest = IsolationForest(n_estimators=5, random_state=0).fit(train)
    wrong = manifest_for("anomaly", inputs=SIGNALS[:3])
    with pytest.raises(ExportError, match=r"44 features, but the manifest's 3 inputs x 11"):
        export_onnx(forest, train.shape[1], wrong, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_estimators_are_refused(
    features: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    train, _, target = features
    with pytest.raises(ExportError, match="cannot express the output of KMeans"):
        to_onnx(KMeans(n_clusters=2, n_init=1, random_state=0).fit(train), train.shape[1])
    three_classes = RandomForestClassifier(n_estimators=3, random_state=0)
    three_classes.fit(train, np.digitize(target, [40, 80]))
    with pytest.raises(ExportError, match="only binary classifiers"):
        to_onnx(three_classes, train.shape[1])
    forest = IsolationForest(n_estimators=3, random_state=0).fit(train)
    with pytest.raises(ExportError, match="exports as float32"):
        to_onnx(forest, train.shape[1], dtype="float64")


def test_export_replaces_atomically_and_leaves_no_temporary_file(
    features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, held, _ = features
    path = tmp_path / "models" / "pump.onnx"
    first = IsolationForest(n_estimators=5, random_state=0).fit(train)
    second = IsolationForest(n_estimators=5, random_state=1).fit(train)
    export_onnx(first, train.shape[1], manifest_for("anomaly", name="first"), path)
    export_onnx(second, train.shape[1], manifest_for("anomaly", name="second"), path)
    assert [p.name for p in path.parent.iterdir()] == ["pump.onnx"]
    assert Model.load(path).manifest.name == "second"
    verify(second, path, held)
    three = RandomForestClassifier(n_estimators=2).fit(train, np.arange(len(train)) % 3)
    with pytest.raises(ExportError, match="only binary"):
        export_onnx(three, train.shape[1], manifest_for("anomaly", name="third"), path)
    assert Model.load(path).manifest.name == "second"
    assert [p.name for p in path.parent.iterdir()] == ["pump.onnx"]


def test_verify_reports_a_disagreement(
    features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, held, target = features
    path = tmp_path / "rul.onnx"
    exported = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(train, target)
    other = GradientBoostingRegressor(n_estimators=21, random_state=0).fit(train, target)
    export_onnx(exported, train.shape[1], manifest_for("rul"), path)
    with pytest.raises(ExportError, match=r"differs from scikit-learn by .* > 0.0001 \(row \d+"):
        verify(other, path, held)
    with pytest.raises(ExportError, match="needs held-out rows"):
        verify(exported, path, held[:0])


def test_model_version_and_incomplete_rows(
    features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, held, _ = features
    path = tmp_path / "m.onnx"
    manifest = manifest_for("anomaly")
    export_onnx(IsolationForest(n_estimators=5).fit(train), train.shape[1], manifest, path)
    model = Model.load(path)
    stamp = manifest.created.strftime("%Y%m%dT%H%M%SZ")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (model.sha256, model.version) == (sha256, f"test-anomaly/{stamp}/{sha256[:8]}")
    rows = held[:3].copy()
    rows[1, 5] = np.nan
    scores = model.score(rows)
    assert np.isnan(scores[1])
    assert np.isfinite(scores[[0, 2]]).all()
    with pytest.raises(ValueError, match=r"takes \(n, 44\) features, got shape \(3, 43\)"):
        model.score(held[:3, :-1])


# Files that must be refused, each with the reason the error must give.


def onnx_bytes(model: onnx.ModelProto, manifest_json: str | None) -> bytes:
    if manifest_json is not None:
        helper.set_model_props(model, {METADATA_KEY: manifest_json})
    return model.SerializeToString()


def test_unusable_files_are_refused_with_a_reason(
    features: tuple[np.ndarray, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    train, _, _ = features
    forest = IsolationForest(n_estimators=3, random_state=0).fit(train)
    good = manifest_for("anomaly")
    n = train.shape[1]
    raw = good.to_dict()
    cases = {
        "garbage": (b"not a model", "not a loadable ONNX model"),
        "truncated": (onnx_bytes(to_onnx(forest, n), good.to_json())[:500], "not a loadable"),
        "no manifest": (onnx_bytes(to_onnx(forest, n), None), "no 'uvelka.manifest'"),
        "manifest not JSON": (onnx_bytes(to_onnx(forest, n), "{"), "invalid manifest: not JSON"),
        "manifest field missing": (
            onnx_bytes(to_onnx(forest, n), good.to_json().replace('"seed"', '"sed"')),
            "seed: missing",
        ),
        "other feature version": (
            onnx_bytes(
                to_onnx(forest, n),
                manifest_for("anomaly", feature_version=FEATURE_VERSION + 1).to_json(),
            ),
            f"trained on feature version {FEATURE_VERSION + 1}, this gateway computes version",
        ),
        "unknown feature kind": (
            onnx_bytes(
                to_onnx(IsolationForest(n_estimators=2).fit(train[:, :4]), 4),
                Manifest.from_dict(raw | {"feature_kinds": ["mean", "entropy"]}).to_json(),
            ),
            "unknown feature kind(s) ['entropy']",
        ),
        "inputs do not match the width": (
            onnx_bytes(
                to_onnx(IsolationForest(n_estimators=2).fit(train[:, :40]), 40), good.to_json()
            ),
            "input shape [None, 40] does not match the manifest's 4 signals x 11 kinds = 44",
        ),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        with pytest.raises(ModelError) as caught:
            Model.load(path)
        assert reason in str(caught.value), name
        assert str(path) in str(caught.value), name
    with pytest.raises(ModelError, match="cannot read"):
        Model.load(tmp_path / "absent.onnx")


def test_a_graph_without_the_conventional_names_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "plain",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 44])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 44])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    manifest = manifest_for("anomaly").to_json()
    with pytest.raises(ModelError, match="needs exactly one input named 'features', has \\['x'\\]"):
        Model.from_bytes(onnx_bytes(model, manifest))
    model.graph.input[0].name = model.graph.node[0].input[0] = "features"
    with pytest.raises(ModelError, match="no output named 'score' \\(outputs: \\['y'\\]\\)"):
        Model.from_bytes(onnx_bytes(model, manifest))


def test_smoke_test_refuses_non_finite_scores(
    features: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    train, _, _ = features
    scaler = StandardScaler().fit(train)
    pca = PCA(n_components=3).fit(scaler.transform(train))
    overflowing = QuadraticScore.from_pca(scaler, pca, weights=(1e308, 1e308))
    data = onnx_bytes(to_onnx(overflowing, train.shape[1]), manifest_for("anomaly").to_json())
    model = Model.from_bytes(data, source="overflowing.onnx")
    with pytest.raises(ModelError, match="overflowing.onnx: smoke inference gave .*inf"):
        model.smoke_test()
