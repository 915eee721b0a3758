"""Fixtures shared by the whole-gateway tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.assets import normal_recording, train


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A folder holding pump.onnx: an anomaly model of flow and pressure, trained on a
    healthy recording by `uvelka train`."""
    folder = tmp_path / "models"
    folder.mkdir()
    signals = ("flow", "pressure")
    train(normal_recording(tmp_path / "normal.csv", signals), folder / "pump.onnx", signals)
    return folder
