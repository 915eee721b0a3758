"""The runtime path of analytics imports no more than it uses (issue #10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("onnxruntime", "scipy", "sklearn", "skl2onnx", "onnx", "analytics.training")


def loaded_after(code: str) -> list[str]:
    probe = (
        f"import json, sys; {code}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_importing_the_runtime_modules_loads_neither_onnxruntime_nor_training() -> None:
    assert (
        loaded_after(
            "import analytics.inference, analytics.features, analytics.rul_features,"
            " analytics.manifest, analytics.model_check"
        )
        == []
    )


def test_onnxruntime_comes_with_the_first_model() -> None:
    code = "from analytics.inference import Model; Model.load('models_onnx/pump_anomaly.onnx')"
    assert loaded_after(code) == ["onnxruntime"]
