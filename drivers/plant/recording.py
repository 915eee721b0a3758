"""Recordings of the simulated pump for training: what the gateway would have sampled.

A row is the pump's reading every `sample_s` simulated seconds, written as the plain
timestamp-plus-columns CSV that `uvelka train` reads, with the simulator's ground truth
beside it: `anomaly` (a bearing defect has developed, the pump cavitates, or it tripped),
`remaining_life_h` and `run` (a new bearing starts a new run).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from typing import TextIO

from drivers.plant.pump import DT_S, PumpModel, Scenario, defect_onset

SIGNALS = (
    "vibration_rms",
    "vibration_hf",
    "motor_current",
    "flow",
    "bearing_temperature",
    "discharge_pressure",
    "suction_pressure",
    "speed",
)
TRUTH = ("anomaly", "remaining_life_h", "run")


def record(
    out: TextIO,
    rows: int,
    sample_s: float,
    seed: int,
    scenario: Scenario,
    start: datetime,
    truth: bool = True,
) -> None:
    """Write `rows` rows sampled every `sample_s` simulated seconds; deterministic per seed.

    Without `truth`, only what the gateway would see: for training on normal operation.
    """
    steps = max(1, round(sample_s / DT_S))
    pump = PumpModel(seed, scenario=scenario)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("timestamp", *SIGNALS, *(TRUTH if truth else ())))
    run, last_wear = 0, pump.wear
    for row in range(rows):
        pump.advance(steps)
        if pump.wear < last_wear:  # a repair fitted a new bearing
            run += 1
        last_wear = pump.wear
        reading = pump.reading
        anomalous = defect_onset(pump.wear) > 0.5 or pump.cavitation > 0.2 or reading.tripped
        time = start + timedelta(seconds=(row + 1) * steps * DT_S)
        ground_truth = (int(anomalous), f"{pump.remaining_life_h:.4f}", run) if truth else ()
        writer.writerow((
            time.isoformat(),
            *(f"{getattr(reading, name):.6g}" for name in SIGNALS),
            *ground_truth,
        ))
