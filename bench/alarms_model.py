"""The alarm benchmark's anomaly model: trained on the spot with `uvelka train anomaly`,
then probed for the score of a normal and of a disturbed window, between which the
alarms' limit is set."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from children import ChildProcesses

from analytics.features import extract
from analytics.inference import Model

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_FILE = "pump.onnx"
# A healthy pump's commissioning data: 1 % noise around these centres (as the end-to-end
# asset test trains its model).
CENTRE = {"flow": 50.0, "pressure": 4.0}
NOISE = 0.01
ROWS = 450
# The disturbance: flow at three times its centre. One such row in the model's 15-row
# window of means scores ~17 where the centre scores ~0.2 (measured on this recipe).
FAR_FACTOR = 3.0
TRAIN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class BenchModel:
    """The trained model, the inputs that drive it, and the alarm limit chosen for it."""

    file: str  # in `folder`
    folder: Path
    signals: tuple[str, ...]
    centre: tuple[float, ...]  # normal inputs
    far: tuple[float, ...]  # disturbed inputs
    window_rows: int  # rows a disturbed row stays in the window, holding the score up
    normal_score: float  # a window of normal rows
    disturbed_score: float  # a window with one disturbed row
    limit: float


async def train_model(children: ChildProcesses, work_dir: Path, seed: int = 7) -> BenchModel:
    """Train the anomaly model with the gateway's CLI and choose the limit."""
    folder = work_dir / "models"
    folder.mkdir()
    data = work_dir / "normal.csv"
    data.write_text(_normal_recording(seed), encoding="utf-8")
    signals = tuple(CENTRE)
    trainer = await children.start("train", [
        sys.executable, "-m", "gateway", "train", "anomaly", "--data", str(data),
        "--out", str(folder / MODEL_FILE), "--signals", ",".join(signals)], cwd=REPO_ROOT)
    code = await asyncio.wait_for(trainer.process.wait(), TRAIN_TIMEOUT_S)
    if code != 0:
        raise RuntimeError(f"training the model failed ({code}):\n{trainer.log_tail()}")
    model = await asyncio.to_thread(Model.load, folder / MODEL_FILE)
    centre = tuple(CENTRE[s] for s in signals)
    far = (centre[0] * FAR_FACTOR, *centre[1:])
    rows = model.manifest.window.length
    normal = np.tile(centre, (rows, 1))
    disturbed = normal.copy()
    disturbed[-1] = far
    normal_score, disturbed_score = (float(x) for x in model.score(
        extract(np.stack([normal, disturbed]), kinds=model.manifest.feature_kinds)))
    # Halfway up: far from the normal score's noise, and crossed by one disturbed row.
    limit = round(disturbed_score / 2.0, 3)
    if not normal_score < limit < disturbed_score:
        raise RuntimeError(f"no limit between the normal score {normal_score:g} and the "
                           f"disturbed score {disturbed_score:g}")
    logger.info("model %s: %d-row window; score %.3g normal, %.3g with one disturbed row; "
                "alarm limit %g", MODEL_FILE, rows, normal_score, disturbed_score, limit)
    return BenchModel(MODEL_FILE, folder, signals, centre, far, rows, normal_score,
                      disturbed_score, limit)


def _normal_recording(seed: int) -> str:
    rng = np.random.default_rng(seed)
    lines = ["timestamp," + ",".join(CENTRE)]
    for i in range(ROWS):
        values = [c * (1 + NOISE * rng.standard_normal()) for c in CENTRE.values()]
        lines.append(f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z,"
                     + ",".join(f"{v:.5f}" for v in values))
    return "\n".join(lines) + "\n"
