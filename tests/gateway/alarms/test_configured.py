"""The alarms a configuration asks for: its [[alarms]] tables and the asset defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.alarms import Condition
from gateway.alarms.configured import RulScale, configured_alarms
from gateway.config import GatewayConfig, validate_text
from gateway.config.sources import Source, SourceKind

ROOT = Path(__file__).parents[3]
INPUTS = ", ".join(
    f'{signal} = "pump1.t{i}"'
    for i, signal in enumerate(
        ["vibration_rms", "vibration_hf", "bearing_temperature", "motor_current", "flow"]
    )
)
BASE = "\n".join(
    [
        "[[devices]]",
        'name = "pump1"',
        'url = "modbus-tcp://127.0.0.1"',
        *(
            f'[[devices.tags]]\nname = "t{i}"\ntable = "input"\naddress = {2 * i}\n'
            'type = "float32"'
            for i in range(5)
        ),
        "[[assets]]",
        'name = "pump1"',
        'anomaly = "pump_anomaly.onnx"',
        'rul = "pump_rul.onnx"',
        "interval = 2.0",
        f"inputs = {{ {INPUTS} }}",
    ]
)
SCALES = {"pump1": RulScale(full_life=2000.0, unit="h")}


def config(extra: str = "") -> GatewayConfig:
    parsed, problems = validate_text(f"{BASE}\n{extra}", "test.toml", base_dir=ROOT)
    assert parsed is not None, problems
    return parsed


def test_an_asset_gets_an_anomaly_and_a_rul_alarm_by_default() -> None:
    anomaly, rul = configured_alarms(config(), SCALES)

    assert anomaly.rule.name == "pump1_anomaly"
    assert anomaly.source == Source(SourceKind.ASSET, "pump1", "Anomaly")
    assert anomaly.rule.condition is Condition.TRUE
    assert anomaly.rule.severity == 700
    assert (anomaly.rule.on_delay_s, anomaly.rule.off_delay_s) == (6.0, 0.0)  # 3 intervals; hold

    assert rul.rule.name == "pump1_rul"
    assert rul.source == Source(SourceKind.ASSET, "pump1", "RemainingUsefulLife")
    assert (rul.rule.condition, rul.rule.limit, rul.rule.hysteresis) == (
        Condition.BELOW, 200.0, pytest.approx(20.0))
    assert (rul.rule.on_delay_s, rul.rule.off_delay_s) == (60.0, 60.0)  # 30 intervals of 2 s
    assert rul.rule.message == "Remaining useful life of pump1 below 200 h"


def test_rul_alarm_below_sets_the_default_limit() -> None:
    text = BASE.replace("interval = 2.0", "interval = 2.0\nrul_alarm_below = 48.0")
    parsed, problems = validate_text(text, "test.toml", base_dir=ROOT)
    assert parsed is not None, problems
    _, rul = configured_alarms(parsed, SCALES)
    assert rul.rule.limit == 48.0


def test_a_table_on_an_output_replaces_its_default() -> None:
    alarms = configured_alarms(config("""
[[alarms]]
name = "pump1_bearing"
source = "pump1.Anomaly"
condition = "true"
severity = 900
message = "Bearing anomaly on pump 1"

[[alarms]]
name = "t0_high"
source = "pump1.t0"
condition = "above"
limit = 7.1
hysteresis = 0.5
on_delay = 10.0
off_delay = 30.0
"""), SCALES)

    assert [item.rule.name for item in alarms] == ["pump1_bearing", "t0_high", "pump1_rul"]
    tag = alarms[1]
    assert tag.source == Source(SourceKind.TAG, "pump1", "t0")
    assert (tag.rule.limit, tag.rule.hysteresis, tag.rule.on_delay_s, tag.rule.off_delay_s) == (
        7.1, 0.5, 10.0, 30.0)
    assert tag.rule.message == "t0_high in alarm"  # the default text names the alarm


def test_alarms_false_turns_the_defaults_off() -> None:
    parsed, problems = validate_text(
        BASE.replace("interval = 2.0", "interval = 2.0\nalarms = false"), "t.toml", base_dir=ROOT
    )
    assert parsed is not None, problems
    assert configured_alarms(parsed, SCALES) == []
