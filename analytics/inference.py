"""Scoring with an exported model: the only module that imports onnxruntime.

A model file follows the conventions of analytics/README.md: one input "features"
(float or double, [N, n_features]), one output "score" ([N], higher = more anomalous, or the
remaining useful life), and its manifest in the metadata. `Model.load` checks all of that,
so the gateway can validate a dropped-in file before swapping it in. Loading never runs a
node of the graph (constant folding is off): a file's first inference, which may ask for
any memory or time, is `smoke_test`, which the gateway runs in a bounded child process
(analytics.model_check, issue #17).

onnxruntime is imported when the first model loads (`import_runtime`), not with this
module: a gateway imports this module with its first model file, and onnxruntime costs
~60 ms and ~30 MiB more (issue #10). `ModelError` and `read_model_file` are
analytics.model_file's, which a gateway without assets imports alone.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from analytics.features import FEATURE_KINDS, FEATURE_VERSION, extract
from analytics.manifest import METADATA_KEY, Manifest, ManifestError
from analytics.model_file import ModelError, read_model_file
from analytics.model_rules import check_model_bytes
from analytics.rul_features import history_features

if TYPE_CHECKING:
    import onnxruntime as ort

logger = logging.getLogger(__name__)

INPUT_NAME = "features"
OUTPUT_NAME = "score"
_INPUT_DTYPES: dict[str, type[np.floating]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
}


def import_runtime() -> ModuleType:
    """onnxruntime, imported now if no model was loaded yet."""
    import onnxruntime

    return onnxruntime


class Model:
    """A loaded model: its manifest and an onnxruntime session (thread-safe `score`)."""

    def __init__(
        self, session: ort.InferenceSession, manifest: Manifest, source: str, sha256: str
    ) -> None:
        """Use `Model.load`; this only binds what it has checked."""
        self._session = session
        self.manifest = manifest
        self.source = source
        self.sha256 = sha256  # of the file: what tells two versions apart (issue #17)
        self.input_dtype: type[np.floating] = _INPUT_DTYPES[session.get_inputs()[0].type]
        # Short identity: name/creation time/file fingerprint prefix, so that two files
        # with one manifest are two versions (issue #17). Read with every score the gateway
        # publishes, so made once.
        self.version = f"{manifest.name}/{manifest.created:%Y%m%dT%H%M%SZ}/{sha256[:8]}"
        self._outputs = [OUTPUT_NAME]
        # Shared by every run: `close` sets its terminate flag.
        self._run_options = import_runtime().RunOptions()

    @classmethod
    def load(cls, path: Path | str) -> Model:
        """Read, check and prepare the model at `path`; raise ModelError with the reason."""
        return cls.from_bytes(read_model_file(path), source=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> Model:
        """Like `load`, from the file's content; `source` names it in errors and logs."""
        # onnxruntime would read the files a tensor's external data names (issue #14).
        check_model_bytes(data, source)
        ort = import_runtime()
        options = ort.SessionOptions()
        # The gateway scores from one worker thread and keeps the other cores for polling:
        # no intra-op pool (its spinning threads would burn CPU between scores).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: load problems come back as ModelError
        try:
            # Constant folding would run nodes whose inputs are constants while loading,
            # outside the bounds of the smoke test's child process (issue #17).
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"],
                                           disabled_optimizers=["ConstantFolding"])
        # onnxruntime's errors (InvalidProtobuf, Fail, InvalidGraph, ...) share no base class.
        except Exception as exc:
            raise ModelError(f"{source}: not a loadable ONNX model: {exc}") from exc
        manifest = _read_manifest(session, source)
        _check_signature(session, manifest, source)
        logger.debug("loaded model %r from %r", manifest.name, source)
        return cls(session, manifest, source, hashlib.sha256(data).hexdigest())

    @property
    def n_features(self) -> int:
        """Feature columns per row that `score` takes."""
        return self.manifest.n_features

    def score(self, features: np.ndarray) -> np.ndarray:
        """One float64 score per row of `features` (n_rows, n_features); NaN if incomplete."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.manifest.n_features:
            raise ValueError(
                f"model {self.manifest.name!r} takes (n, {self.manifest.n_features}) features,"
                f" got shape {features.shape}"
            )
        x = features.astype(self.input_dtype, copy=False)
        (scores,) = self._session.run(self._outputs, {INPUT_NAME: x}, self._run_options)
        scores = scores.reshape(-1).astype(np.float64, copy=False)
        # A tree sends NaN down some branch and scores it like any row: say "no score".
        incomplete = ~np.isfinite(features).all(axis=1)
        if incomplete.any():
            scores[incomplete] = np.nan
        return scores

    def close(self) -> None:
        """End every inference in progress at its next node, with an error, and fail every
        later one: a thread stuck in a hostile model would otherwise keep the process from
        exiting (issue #17). One node that runs long still runs to its end."""
        self._run_options.terminate = True

    def smoke_test(self) -> None:
        """Score one synthetic window through features and model; ModelError unless finite."""
        m = self.manifest
        t = np.linspace(0.0, 1.0, m.window.length)
        # Every signal different and varying, so no feature sits on a degenerate case.
        offsets = np.arange(1, len(m.inputs) + 1, dtype=np.float64)
        window = offsets + np.sin(2 * np.pi * np.outer(t, offsets)) + t[:, None]
        try:
            if m.rul_features is None:
                features = extract(window[None], m.feature_kinds)
            else:  # the window as a whole life since commissioning
                features = history_features(window, m.rul_features)[None]
            scores = self.score(features)
        except Exception as exc:  # onnxruntime's run errors share no base class either
            raise ModelError(f"{self.source}: smoke inference failed: {exc}") from exc
        if scores.shape != (1,) or not np.isfinite(scores).all():
            raise ModelError(
                f"{self.source}: smoke inference gave {scores!r}, expected one finite score"
            )


def _read_manifest(session: ort.InferenceSession, source: str) -> Manifest:
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if text is None:
        raise ModelError(
            f"{source}: no {METADATA_KEY!r} in the ONNX metadata (not exported by uvelka?)"
        )
    try:
        manifest = Manifest.from_json(text)
    except ManifestError as exc:
        raise ModelError(f"{source}: {exc}") from exc
    if manifest.feature_version != FEATURE_VERSION:
        raise ModelError(
            f"{source}: trained on feature version {manifest.feature_version}, this gateway"
            f" computes version {FEATURE_VERSION}: retrain the model"
        )
    # Buffer-feature kinds are checked against their spec by the manifest itself.
    known = FEATURE_KINDS if manifest.rul_features is None else manifest.rul_features.kinds
    unknown = [k for k in manifest.feature_kinds if k not in known]
    if unknown:
        raise ModelError(f"{source}: unknown feature kind(s) {unknown} in the manifest")
    return manifest


def _check_signature(session: ort.InferenceSession, manifest: Manifest, source: str) -> None:
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        names = [i.name for i in inputs]
        raise ModelError(f"{source}: needs exactly one input named {INPUT_NAME!r}, has {names}")
    if inputs[0].type not in _INPUT_DTYPES:
        raise ModelError(
            f"{source}: input {INPUT_NAME!r} must be float or double, is {inputs[0].type}"
        )
    shape = inputs[0].shape
    if len(shape) != 2 or shape[1] != manifest.n_features:
        raise ModelError(
            f"{source}: input shape {shape} does not match the manifest's"
            f" {len(manifest.inputs)} signals x {len(manifest.feature_kinds)} kinds"
            f" = {manifest.n_features} features"
        )
    outputs = [o.name for o in session.get_outputs()]
    if OUTPUT_NAME not in outputs:
        raise ModelError(f"{source}: no output named {OUTPUT_NAME!r} (outputs: {outputs})")
