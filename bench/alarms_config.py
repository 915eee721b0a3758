"""The gateway TOML of the alarm benchmark: one device and one asset per alarm, MQTT on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alarms_devices import WORDS_PER_SIGNAL
from alarms_model import BenchModel

GATEWAY = "bench"
TOPIC_PREFIX = "bench"
NAMESPACE = "urn:uvelka:bench"


@dataclass(frozen=True)
class BenchAsset:
    """One monitored asset: its device (by port) and its alarm's name."""

    device: str
    asset: str
    alarm: str
    port: int


def bench_assets(ports: Sequence[int]) -> list[BenchAsset]:
    """d00/pump00/pump00_score, ... one per device port."""
    width = max(2, len(str(len(ports) - 1)))
    return [
        BenchAsset(f"d{i:0{width}d}", f"pump{i:0{width}d}", f"pump{i:0{width}d}_score", port)
        for i, port in enumerate(ports)
    ]


def _string(value: str | Path) -> str:
    # A JSON string literal is a valid TOML basic string for the text we emit.
    return json.dumps(str(value))


def render_config(*, assets: Sequence[BenchAsset], model: BenchModel, endpoint: str,
                  broker_port: int, data_dir: Path, interval_s: float,
                  poll_interval_s: float) -> str:
    """The TOML text: each asset scored every `interval_s` by the one model file, with one
    alarm above the model's limit and no default alarms, delays or hysteresis."""
    lines = [
        "[gateway]",
        f"name = {_string(GATEWAY)}",
        f"data_dir = {_string(data_dir)}",
        "",
        "[opcua]",
        f"endpoint = {_string(endpoint)}",
        f"namespace = {_string(NAMESPACE)}",
        'security = ["None"]',  # the bench's client connects anonymously (issue #14)
        "anonymous = true",
        "",
        "[analytics]",
        f"models_dir = {_string(model.folder)}",
        "",
        "[mqtt]",
        f"url = {_string(f'mqtt://127.0.0.1:{broker_port}')}",
        f"topic_prefix = {_string(TOPIC_PREFIX)}",
        "",
    ]
    for item in assets:
        lines += [
            "[[devices]]",
            f"name = {_string(item.device)}",
            f"url = {_string(f'modbus-tcp://127.0.0.1:{item.port}')}",
            f"poll_interval = {poll_interval_s!r}",
            "timeout = 1.0",
        ]
        for i, signal in enumerate(model.signals):
            lines += [
                "  [[devices.tags]]",
                f"  name = {_string(signal)}",
                '  table = "input"',
                f"  address = {WORDS_PER_SIGNAL * i}",
                '  type = "float32"',
            ]
        lines.append("")
    for item in assets:
        inputs = ", ".join(f"{s} = {_string(f'{item.device}.{s}')}" for s in model.signals)
        lines += [
            "[[assets]]",
            f"name = {_string(item.asset)}",
            f"anomaly = {_string(model.file)}",
            f"interval = {interval_s!r}",
            # The default Anomaly alarm (with the model's 20-window hold) would only add
            # transitions the bench does not drive.
            "alarms = false",
            f"inputs = {{ {inputs} }}",
            "",
            "[[alarms]]",
            f"name = {_string(item.alarm)}",
            f"source = {_string(f'{item.asset}.AnomalyScore')}",
            'condition = "above"',
            f"limit = {model.limit!r}",
            "",
        ]
    return "\n".join(lines)
