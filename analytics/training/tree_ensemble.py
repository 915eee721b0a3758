"""One TreeEnsembleRegressor (ai.onnx.ml 3) of fitted trees, whatever estimator grew them.

IsolationForest (export.py) and HistGradientBoosting (rul.py) keep their trees in
different arrays; each exporter describes its trees as `Tree`s and this module writes the
operator once. A branch sends x <= threshold to its true child (BRANCH_LEQ), every tree
adds the value of the leaf it reaches, and the ensemble adds `base` to the sum.

Thresholds and leaf values are tensors of the input's dtype. In float32 a threshold is
rounded so that float32(x) <= t decides exactly as scikit-learn's float32(x) <= threshold
(`_float32_threshold`): rounding to nearest can land above the float64 threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import numpy_helper

_NODE_LISTS = (
    "nodes_treeids",
    "nodes_nodeids",
    "nodes_featureids",
    "nodes_modes",
    "nodes_truenodeids",
    "nodes_falsenodeids",
    "nodes_missing_value_tracks_true",
    "target_treeids",
    "target_nodeids",
    "target_ids",
)


@dataclass(frozen=True, eq=False)
class Tree:
    """One fitted tree as arrays over its nodes (node i at index i, the root at 0).

    Only the branches' `feature`, `threshold`, `true_child`, `false_child` and
    `missing_true` and the leaves' `value` are read; what the other nodes hold is ignored.
    """

    leaf: np.ndarray  # bool
    feature: np.ndarray  # the column a branch compares
    threshold: np.ndarray  # a branch sends x <= threshold to its true child
    true_child: np.ndarray
    false_child: np.ndarray
    value: np.ndarray  # what a leaf adds to the score
    missing_true: np.ndarray | None = None  # a branch sends a missing x to its true child


def tree_ensemble_attributes(
    trees: Iterable[Tree], dtype: type[np.float32 | np.float64], base: float = 0.0
) -> dict[str, Any]:
    """The attributes of one TreeEnsembleRegressor summing `trees` plus `base`, in `dtype`."""
    lists: dict[str, list[Any]] = {name: [] for name in _NODE_LISTS}
    thresholds, values = [], []
    for tree_id, tree in enumerate(trees):
        leaf = np.asarray(tree.leaf, dtype=bool)
        ids = np.arange(len(leaf))
        lists["nodes_treeids"] += [tree_id] * len(leaf)
        lists["nodes_nodeids"] += ids.tolist()
        lists["nodes_featureids"] += _on_branches(leaf, tree.feature)
        lists["nodes_modes"] += np.where(leaf, "LEAF", "BRANCH_LEQ").tolist()
        lists["nodes_truenodeids"] += _on_branches(leaf, tree.true_child)
        lists["nodes_falsenodeids"] += _on_branches(leaf, tree.false_child)
        # Integers, not booleans: protobuf 6.33 deprecates booleans in integer attributes.
        missing = np.zeros(len(leaf)) if tree.missing_true is None else tree.missing_true
        lists["nodes_missing_value_tracks_true"] += _on_branches(leaf, missing)
        lists["target_treeids"] += [tree_id] * int(leaf.sum())
        lists["target_nodeids"] += ids[leaf].tolist()
        lists["target_ids"] += [0] * int(leaf.sum())
        thresholds.append(np.where(leaf, 0.0, tree.threshold))
        values.append(np.asarray(tree.value, dtype=np.float64)[leaf])
    threshold = np.concatenate(thresholds)
    if dtype is np.float32:
        threshold = _float32_threshold(threshold)
    return {
        **lists,
        "nodes_values_as_tensor": numpy_helper.from_array(threshold.astype(dtype), "nodes_values"),
        "target_weights_as_tensor": numpy_helper.from_array(
            np.concatenate(values).astype(dtype), "target_weights"
        ),
        "base_values_as_tensor": numpy_helper.from_array(
            np.array([base], dtype=dtype), "base_values"
        ),
        "n_targets": 1,
        "aggregate_function": "SUM",
        "post_transform": "NONE",
    }


def _on_branches(leaf: np.ndarray, values: np.ndarray) -> list[int]:
    """Integer attributes of the branches; 0 on leaves, which TreeEnsemble ignores."""
    return np.where(leaf, 0, values).astype(np.int64).tolist()


def _float32_threshold(threshold: np.ndarray) -> np.ndarray:
    """The float32 t with float32(x) <= t exactly when float32(x) <= threshold (float64)."""
    rounded = threshold.astype(np.float32)
    below = np.nextafter(rounded, np.float32(-np.inf))
    return np.where(rounded.astype(np.float64) <= threshold, rounded, below)
