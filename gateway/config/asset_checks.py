"""Checks of [[assets]]: their input tags exist, their models fit the mapping, and their
OPC UA variables clash with no tag.

A model is opened here (onnxruntime, a few ms; the model runtime is imported with the
first file, so a configuration without assets never loads numpy: issue #10) so that a
missing file is a configuration error with a key path, and a corrupt one, or one whose
manifest asks for inputs the asset does not map, a warning at that key path. Only a
warning: the file's content is not the configuration (hot reload, uploads and `uvelka
train` replace it while the gateway runs), and refusing the whole start for it stopped
polling and OPC UA at every start until someone replaced the file by hand (issue #17); the
gateway starts with that asset's model slot refused instead, and takes a good file when one
is put there.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.model_file import ModelError
from gateway.config.checks import duplicate_names
from gateway.config.model import AssetConfig
from gateway.config.problem import Finding, Loc, Severity

if TYPE_CHECKING:
    from analytics.inference import Model

# The variables of an asset's OPC UA object, NodeIds "<asset>.<name>" in the namespace of
# the tags ("<device>.<tag>"): the AssetHealthType of nodesets/uvelka.xml, all of them,
# so that adding a model kind to an asset later cannot create a clash.
ASSET_VARIABLES = (
    "AnomalyScore",
    "Anomaly",
    "AnomalyThreshold",
    "RemainingUsefulLife",
    "RemainingUsefulLifeLow",
    "RemainingUsefulLifeHigh",
    "ModelVersion",
    "LastScored",
    "ModelStatus",
    "LastMaintenance",
)


def check_assets(
    assets: Mapping[int, AssetConfig], tag_keys: Sequence[str], models_dir: Path
) -> list[Finding]:
    """Problems of each validated asset (by its index in the file)."""
    findings = duplicate_names((("assets", i), asset.name) for i, asset in assets.items())
    known = set(tag_keys)
    for index, asset in assets.items():
        at: Loc = ("assets", index)
        findings += _clashes(at, asset.name, known)
        if not asset.models():
            findings.append(Finding(at, "an asset needs a model: set anomaly, rul, or both"))
        if not asset.inputs:
            findings.append(Finding((*at, "inputs"), "maps no input; map each model input "
                                    "signal to a tag, e.g. { vibration = \"pump1.vibration\" }"))
        for signal, key in asset.inputs.items():
            if key not in known:
                findings.append(Finding((*at, "inputs", signal), _unknown_tag(key, known)))
        for kind, file in asset.models().items():
            if Path(file).name != file or file in (".", ".."):
                # The page's configuration editor may set it, and activating a version
                # writes over it: never a file elsewhere, a secret (issue #14).
                findings.append(Finding((*at, kind), f"a file name in models_dir, without "
                                        f"folders (got {file!r})"))
                continue
            findings += _model_findings((*at, kind), models_dir / file, kind, asset)
    return findings


def _model_findings(at: Loc, path: Path, kind: str, asset: AssetConfig) -> list[Finding]:
    """A file that is not there: an error; one that is but cannot serve: a warning."""
    problem = model_problem(path, kind, asset)
    if problem is None:
        return []
    if not path.is_file():
        return [Finding(at, problem)]
    return [Finding(at, f"{problem}; the asset starts without its {kind} model until a good "
                    f"file is put there", Severity.WARNING)]


def model_problem(path: Path, kind: str, asset: AssetConfig) -> str | None:
    """Why the model at `path` cannot serve as `asset`'s `kind` model, or None."""
    from analytics.inference import Model  # noqa: PLC0415 (the model runtime, see above)

    try:
        model = Model.load(path)
    except ModelError as exc:
        return str(exc)
    return mapping_problem(model, kind, asset)


def mapping_problem(model: Model, kind: str, asset: AssetConfig) -> str | None:
    """Why a loaded model does not fit the asset's slot and input mapping, or None."""
    manifest = model.manifest
    if manifest.kind != kind:
        return f"{model.source} is a {manifest.kind} model; expected a {kind} model"
    missing = [signal for signal in manifest.inputs if signal not in asset.inputs]
    if missing:
        return (f"{model.source} needs inputs {', '.join(missing)}, which inputs does not map "
                f"(it maps {', '.join(asset.inputs) or 'nothing'})")
    return None


def _clashes(at: Loc, asset: str, known: set[str]) -> list[Finding]:
    """An asset named like a device: its variables must not be that device's tags."""
    return [
        Finding((*at, "name"), f"its {name} variable would take the OPC UA NodeId of tag "
                f"{key!r}; rename the asset or the tag")
        for name in ASSET_VARIABLES
        if (key := f"{asset}.{name}") in known
    ]


def _unknown_tag(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    if close:
        return f"unknown tag {key!r}; did you mean {close[0]!r}?"
    return f"unknown tag {key!r}; expected \"<device>.<tag>\" of a configured tag"
