"""Export a fitted model to ONNX with its manifest, and prove the file scores like sklearn.

Every exported file follows one convention (analytics/README.md), whatever estimator made
it: one input "features" [N, n_features], one output "score" [N], the manifest in the
metadata. The score is what the gateway publishes:

- regressor (GradientBoosting, RandomForest, Ridge, ...): `predict(X)`;
- binary classifier: `predict_proba(X)[:, 1]`, the probability of `classes_[1]` (the
  anomaly label 1 / True);
- IsolationForest: `-score_samples(X)`, in (0, 1], higher = more anomalous (about 0.5 for
  an average point; `decision_function` is `-score - offset_`). A bare forest is written
  as one tree-ensemble operator (fast); inside a Pipeline it goes through skl2onnx's
  generic converter, about ten times slower: trees need no preprocessing anyway;
- QuadraticScore (PCA T² and Q, Mahalanobis, ...): `score_samples(X)`.

The input dtype is float32 for tree models and double for the rest (`default_dtype`).
Trees compare features in float32 inside scikit-learn too (it casts X), so float32 ONNX
input reproduces them; skl2onnx cannot convert a tree ensemble to double anyway. Two traps
that `verify` catches: a scaler in front of trees (the scaled value is rounded differently
in float32 ONNX arithmetic and lands on the other side of a threshold: trees need no
scaler), and HistGradientBoosting, which bins float64 features against float64 thresholds:
fit it on features rounded to float32 (`X.astype(np.float32).astype(np.float64)`) and
predict on them too, then the float32 ONNX model agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
from sklearn.base import is_classifier, is_regressor
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length  # c(n) of the paper
from sklearn.pipeline import Pipeline

from analytics.inference import INPUT_NAME, OUTPUT_NAME, Model
from analytics.manifest import METADATA_KEY, Manifest
from analytics.model_file import ModelError, write_atomically
from analytics.model_rules import OPSETS
from analytics.training.tree_ensemble import Tree, tree_ensemble_attributes

logger = logging.getLogger(__name__)

# Opsets old enough for the onnxruntime builds of common edge distributions (1.14+), new
# enough for every operator we emit. skl2onnx picks lower ones per operator where it can.
# The gateway refuses models of other domains or newer opsets (analytics.model_rules).
TARGET_OPSET: dict[str, int] = OPSETS

Dtype = Literal["float32", "float64"]


class ExportError(Exception):
    """A model cannot be exported, or its ONNX file does not reproduce scikit-learn."""


@dataclass(frozen=True, eq=False)
class QuadraticScore:
    """score(x) = combine over k of weights[k] * ||((x - center) / scale) @ projections[k]||².

    Covers the classical linear detectors as one exportable object: PCA T² (projection
    P / sqrt(eigenvalues)), PCA Q / SPE (projection I - P Pᵀ), Mahalanobis distance
    (a Cholesky factor of the inverse covariance). With weights 1 / limit and
    combine="max", a score above 1 means one statistic is over its limit. Build it with
    `from_pca`, calibrate limits on `terms(X_normal)`, then `dataclasses.replace` weights.
    """

    center: np.ndarray  # (n_features,)
    scale: np.ndarray  # (n_features,), > 0
    projections: tuple[np.ndarray, ...]  # each (n_features, m_k)
    weights: tuple[float, ...]
    combine: Literal["sum", "max"] = "sum"

    def __post_init__(self) -> None:
        n = self.center.shape
        if len(n) != 1 or self.scale.shape != n:
            raise ValueError(
                f"center {self.center.shape} and scale {self.scale.shape} must be (n,)"
            )
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise ValueError("scale must be finite and > 0 (a constant feature: use scale 1)")
        if not self.projections or len(self.projections) != len(self.weights):
            raise ValueError("need one weight per projection, and at least one projection")
        for k, p in enumerate(self.projections):
            if p.ndim != 2 or p.shape[0] != n[0] or not np.isfinite(p).all():
                raise ValueError(f"projection {k} must be finite ({n[0]}, m), got {p.shape}")
        if self.combine not in ("sum", "max"):
            raise ValueError(f"combine must be 'sum' or 'max', got {self.combine!r}")

    @classmethod
    def from_pca(
        cls,
        scaler: Any,
        pca: Any,
        *,
        weights: tuple[float, float] = (1.0, 1.0),
        combine: Literal["sum", "max"] = "sum",
    ) -> QuadraticScore:
        """T² and Q terms (in that order) of a fitted StandardScaler (or None) and PCA."""
        n = pca.components_.shape[1]
        mean = np.zeros(n) if scaler is None or scaler.mean_ is None else scaler.mean_
        scale = np.ones(n) if scaler is None or scaler.scale_ is None else scaler.scale_
        eigenvalues = pca.explained_variance_
        if not (eigenvalues > 0).all():
            raise ValueError("a PCA component has zero variance: keep fewer components")
        components = pca.components_.T  # (n_features, k)
        return cls(
            # ((x - mean) / scale - pca.mean_) == (x - (mean + scale * pca.mean_)) / scale
            center=mean + scale * pca.mean_,
            scale=np.asarray(scale, dtype=np.float64),
            projections=(
                components / np.sqrt(eigenvalues),
                np.eye(n) - components @ components.T,
            ),
            weights=tuple(float(w) for w in weights),
            combine=combine,
        )

    def terms(self, X: np.ndarray) -> np.ndarray:
        """Unweighted terms (n_rows, n_projections), e.g. T² and Q, to calibrate limits on."""
        z = (np.asarray(X, dtype=np.float64) - self.center) / self.scale
        projected = [z @ p for p in self.projections]
        return np.stack([np.einsum("ij,ij->i", zp, zp) for zp in projected], axis=1)

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        """The score the exported model computes, one per row."""
        weighted = self.terms(X) * np.asarray(self.weights)
        return weighted.sum(axis=1) if self.combine == "sum" else weighted.max(axis=1)


def reference_scores(pipeline: Any, X: np.ndarray) -> np.ndarray:
    """What the exported "score" output must reproduce, computed by the Python model."""
    final = _final_estimator(pipeline)
    if isinstance(pipeline, QuadraticScore):
        return pipeline.score_samples(X)
    if isinstance(final, IsolationForest):
        return -pipeline.score_samples(X)
    if is_classifier(final):
        return pipeline.predict_proba(X)[:, 1]
    if is_regressor(final):
        return np.asarray(pipeline.predict(X), dtype=np.float64).reshape(-1)
    raise ExportError(_unsupported(final))


def default_dtype(pipeline: Any) -> Dtype:
    """float32 for tree models (what scikit-learn computes in), float64 for the rest."""
    final = _final_estimator(pipeline)
    module = type(final).__module__
    return "float32" if module.startswith(("sklearn.tree", "sklearn.ensemble")) else "float64"


def to_onnx(pipeline: Any, n_features: int, dtype: Dtype | None = None) -> onnx.ModelProto:
    """The ONNX graph of a fitted model: input "features" [N, n_features], output "score" [N]."""
    dtype = dtype or default_dtype(pipeline)
    if isinstance(pipeline, QuadraticScore):
        return _quadratic_graph(pipeline, n_features, dtype)
    if isinstance(pipeline, IsolationForest):
        if dtype != "float32":
            raise ExportError("an IsolationForest exports as float32, what scikit-learn uses")
        return _isolation_forest_graph(pipeline, n_features)
    final = _final_estimator(pipeline)
    if isinstance(final, IsolationForest):
        # Inside a Pipeline: skl2onnx's generic graph (~30 nodes per tree, ~10x slower).
        options, source, tail = {"score_samples": True}, "score_samples", _negate
    elif is_classifier(final):
        if len(final.classes_) != 2:
            raise ExportError(f"{type(final).__name__}: only binary classifiers are supported")
        options, source, tail = {"zipmap": False}, "probabilities", _second_column
    elif is_regressor(final):
        options, source, tail = {}, "variable", _flatten
    else:
        raise ExportError(_unsupported(final))
    tensor_type = FloatTensorType if dtype == "float32" else DoubleTensorType
    try:
        model = convert_sklearn(
            pipeline,
            initial_types=[(INPUT_NAME, tensor_type([None, n_features]))],
            options={type(final): options} if options else None,
            target_opset=TARGET_OPSET,
        )
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        raise ExportError(
            f"skl2onnx cannot convert {_describe(pipeline)} as {dtype}: {exc}"
        ) from exc
    _append_score(model.graph, source, tail)
    # skl2onnx may list a domain twice (once per converter); keep its highest version.
    versions: dict[str, int] = {}
    for opset in model.opset_import:
        versions[opset.domain] = max(opset.version, versions.get(opset.domain, 0))
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in versions.items())
    return model


def export_onnx(
    pipeline: Any,
    n_features: int,
    manifest: Manifest,
    path: Path,
    *,
    dtype: Dtype | None = None,
) -> None:
    """Convert, attach `manifest`, check it loads and scores, write `path` atomically.

    The file appears complete or not at all (temporary ".<name>.tmp*" beside it, then
    os.replace), so a watcher of models_onnx/ never loads half a model.
    """
    if n_features != manifest.n_features:
        raise ExportError(
            f"{n_features} features, but the manifest's {len(manifest.inputs)} inputs x"
            f" {len(manifest.feature_kinds)} kinds make {manifest.n_features}"
        )
    model = to_onnx(pipeline, n_features, dtype)
    model.producer_name = "uvelka"
    model.graph.name = manifest.name
    helper.set_model_props(model, {METADATA_KEY: manifest.to_json()})
    onnx.checker.check_model(model, full_check=True)
    data = model.SerializeToString()
    try:
        Model.from_bytes(data, source=str(path)).smoke_test()
    except ModelError as exc:
        raise ExportError(f"the exported model does not run: {exc}") from exc
    write_atomically(Path(path), data)
    logger.info("exported %s model %r to %s", manifest.kind, manifest.name, path)


def verify(pipeline: Any, path: Path, X: np.ndarray, atol: float = 1e-4) -> float:
    """Max |ONNX score - Python score| over held-out rows `X`; ExportError if above `atol`."""
    if len(X) == 0:
        raise ExportError("verify needs held-out rows: an empty check proves nothing")
    got = Model.load(path).score(X)
    want = reference_scores(pipeline, X)
    diff = np.abs(got - want)
    # NaN on one side only is a disagreement, not a difference that compares False.
    diff[np.isnan(diff)] = np.inf
    diff[np.isnan(got) & np.isnan(want)] = 0.0
    worst = int(np.argmax(diff))
    max_diff = float(diff[worst])
    if max_diff > atol:
        raise ExportError(
            f"{path}: the ONNX score differs from scikit-learn by {max_diff:.3g} > {atol:g}"
            f" (row {worst}: onnx {got[worst]!r}, scikit-learn {want[worst]!r})"
        )
    logger.info("%s reproduces scikit-learn on %d rows (max diff %.3g)", path, len(X), max_diff)
    return max_diff


def _final_estimator(pipeline: Any) -> Any:
    return pipeline.steps[-1][1] if isinstance(pipeline, Pipeline) else pipeline


def _describe(pipeline: Any) -> str:
    if isinstance(pipeline, Pipeline):
        return "Pipeline(" + ", ".join(type(step).__name__ for _, step in pipeline.steps) + ")"
    return type(pipeline).__name__


def _unsupported(final: Any) -> str:
    return (
        f"cannot express the output of {type(final).__name__} as one score: export a"
        " regressor, a binary classifier, an IsolationForest or a QuadraticScore"
    )


# A tail turns the converter's output into "score" [N]: the nodes and constants it adds.
_Nodes = tuple[list[onnx.NodeProto], list[onnx.TensorProto]]
_Tail = Callable[[str], _Nodes]


def _flatten(source: str) -> _Nodes:
    shape = numpy_helper.from_array(np.array([-1], dtype=np.int64), "uvelka_flat_shape")
    return [helper.make_node("Reshape", [source, shape.name], [OUTPUT_NAME])], [shape]


def _negate(source: str) -> _Nodes:
    nodes, constants = _flatten("uvelka_negated")
    return [helper.make_node("Neg", [source], ["uvelka_negated"]), *nodes], constants


def _second_column(source: str) -> _Nodes:
    # A scalar index drops the class axis: [N, 2] -> [N].
    index = numpy_helper.from_array(np.array(1, dtype=np.int64), "uvelka_positive_class")
    node = helper.make_node("Gather", [source, index.name], [OUTPUT_NAME], axis=1)
    return [node], [index]


def _append_score(graph: onnx.GraphProto, source: str, tail: _Tail) -> None:
    """Add `tail` after output `source`, make "score" the only output, prune the rest."""
    outputs = {o.name: o for o in graph.output}
    if source not in outputs:
        raise ExportError(f"the converted graph has no output {source!r} ({list(outputs)})")
    elem_type = outputs[source].type.tensor_type.elem_type
    nodes, constants = tail(source)
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, elem_type, [None]))
    _prune(graph)


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes and initializers the outputs do not need (e.g. IsolationForest's labels)."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(node.input)
    initializers = [i for i in graph.initializer if i.name in needed]
    del graph.node[:]
    graph.node.extend(reversed(kept))
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _quadratic_graph(score: QuadraticScore, n_features: int, dtype: Dtype) -> onnx.ModelProto:
    if score.center.shape != (n_features,):
        raise ExportError(f"QuadraticScore has {score.center.shape[0]} features, not {n_features}")
    np_type = np.float32 if dtype == "float32" else np.float64
    elem_type = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE

    def constant(name: str, value: Any, kind: type = np_type) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=kind), name))
        return name

    initializers: list[onnx.TensorProto] = []
    axes = constant("axes", [1], np.int64)
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, constant("center", score.center)], ["centred"]),
        helper.make_node("Mul", ["centred", constant("inv_scale", 1.0 / score.scale)], ["z"]),
    ]
    terms = []
    for k, (projection, weight) in enumerate(zip(score.projections, score.weights, strict=True)):
        p, sq, total, term = f"p{k}", f"sq{k}", f"total{k}", f"term{k}"
        nodes += [
            helper.make_node("MatMul", ["z", constant(f"projection{k}", projection)], [p]),
            helper.make_node("Mul", [p, p], [sq]),
            helper.make_node("ReduceSum", [sq, axes], [total], keepdims=0),
            helper.make_node("Mul", [total, constant(f"weight{k}", weight)], [term]),
        ]
        terms.append(term)
    op = "Sum" if score.combine == "sum" else "Max"
    nodes.append(helper.make_node(op, terms, [OUTPUT_NAME]))
    return _model(nodes, initializers, n_features, elem_type, "quadratic_score")


def _isolation_forest_graph(forest: IsolationForest, n_features: int) -> onnx.ModelProto:
    """One TreeEnsembleRegressor summing path lengths, then score = 2^(-sum / c(n)).

    skl2onnx's converter emits ~30 nodes per tree (1 ms per call, 40 µs per row in a batch
    of 1,000 with 100 trees); one ensemble operator scores the same 100 trees in about a
    tenth of that. It mirrors IsolationForest._compute_score_samples: a leaf is worth its
    depth plus the average path length of the samples left in it, minus 1.
    """
    denominator = len(forest.estimators_) * float(_average_path_length([forest.max_samples_])[0])
    if denominator == 0:
        raise ExportError("IsolationForest fitted with max_samples=1 has no usable score")
    trees = (
        Tree(
            leaf=estimator.tree_.children_left == -1,
            # Trees index the forest's feature subset (a leaf's -2 is ignored).
            feature=features[estimator.tree_.feature],
            threshold=estimator.tree_.threshold,
            true_child=estimator.tree_.children_left,
            false_child=estimator.tree_.children_right,
            value=depths + average_lengths - 1.0,
        )
        for estimator, features, depths, average_lengths in zip(
            forest.estimators_,
            forest.estimators_features_,
            forest._decision_path_lengths,  # what score_samples itself uses (private)
            forest._average_path_length_per_tree,
            strict=True,
        )
    )
    constants = [
        numpy_helper.from_array(np.array(-1.0 / denominator, dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
    ]
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor",
            [INPUT_NAME],
            ["path_length"],
            domain="ai.onnx.ml",
            **tree_ensemble_attributes(trees, np.float32),
        ),
        helper.make_node("Mul", ["path_length", "scale"], ["exponent"]),
        helper.make_node("Pow", ["two", "exponent"], ["power"]),
        helper.make_node("Reshape", ["power", "flat"], [OUTPUT_NAME]),
    ]
    return _model(nodes, constants, n_features, TensorProto.FLOAT, "isolation_forest")


def _model(
    nodes: list[onnx.NodeProto],
    constants: list[onnx.TensorProto],
    n_features: int,
    elem_type: int,
    name: str,
) -> onnx.ModelProto:
    """A model of our own graph with the conventional input and output."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(INPUT_NAME, elem_type, [None, n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, elem_type, [None])],
        constants,
    )
    opsets = [helper.make_opsetid(domain, version) for domain, version in TARGET_OPSET.items()]
    return helper.make_model(
        graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets)
    )
