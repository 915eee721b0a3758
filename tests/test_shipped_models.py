"""Every model in models_onnx/ loads, passes its smoke test, and fits the demo's assets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.inference import Model
from gateway.cli.demo import demo_config
from gateway.config.asset_checks import mapping_problem

MODELS = sorted((Path(__file__).resolve().parents[1] / "models_onnx").glob("*.onnx"))


def test_models_are_shipped() -> None:
    assert {path.name for path in MODELS} >= {"pump_anomaly.onnx", "pump_rul.onnx"}


@pytest.mark.parametrize("path", MODELS, ids=lambda path: path.name)
def test_model_loads_and_scores(path: Path) -> None:
    model = Model.load(path)
    model.smoke_test()
    scores = model.score(np.zeros((3, model.n_features)))
    assert scores.shape == (3,)
    assert np.isfinite(scores).all()


def test_demo_assets_use_the_shipped_models() -> None:
    config = demo_config()
    assert [asset.name for asset in config.assets] == ["pump1", "pump2", "pump3"]
    for asset in config.assets:
        for kind, file in asset.models().items():
            model = Model.load(config.analytics.models_dir / file)
            assert mapping_problem(model, kind, asset) is None
