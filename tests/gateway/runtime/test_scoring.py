"""The asset scorers with the shipped models: windows, quality rules, RUL state, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.inference import Model
from gateway.config.model import AssetConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.runtime.asset_state import AssetStateStore
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.scoring import AssetScorer, _result, _score_batches
from gateway.runtime.tag_cache import TagCache

MODELS = Path(__file__).resolve().parents[3] / "models_onnx"
SIGNALS = ("vibration_rms", "vibration_hf", "bearing_temperature", "motor_current", "flow")
HEALTHY = {"vibration_rms": 1.0, "vibration_hf": 0.5, "bearing_temperature": 45.0,
           "motor_current": 18.0, "flow": 80.0}
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def asset(kind: str) -> AssetConfig:
    return AssetConfig.model_validate({
        "name": "pump", kind: f"pump_{kind}.onnx",
        "inputs": {signal: f"dev.{signal}" for signal in SIGNALS},
    })


def scorer(kind: str) -> AssetScorer:
    config = asset(kind)
    path = MODELS / f"pump_{kind}.onnx"
    return AssetScorer(config, [ModelSlot(config, kind, path, Model.load(path))])


def feed(cache: TagCache, quality: Quality = Quality.GOOD, **values: float) -> None:
    cache.update([
        Sample(f"dev.{signal}", values.get(signal, HEALTHY[signal]), quality, T0)
        for signal in SIGNALS
    ])


def step(target: AssetScorer, cache: TagCache, i: int) -> list:
    target.sample(cache, T0 + timedelta(seconds=i))
    jobs = target.due()
    return [_result(job, value, T0) for job, value in zip(jobs, _score_batches(jobs), strict=True)]


def test_nothing_is_sampled_before_every_input_was_read() -> None:
    target, cache = scorer("anomaly"), TagCache()
    cache.update([Sample("dev.flow", 80.0, Quality.GOOD, T0)])
    target.sample(cache, T0)
    assert target.window.rows == 0


def test_anomaly_scores_once_the_window_is_full_and_bad_inputs_give_no_value() -> None:
    target, cache = scorer("anomaly"), TagCache()
    feed(cache)
    results = [step(target, cache, i) for i in range(15)]
    assert results[:14] == [[]] * 14
    (first,) = results[14]
    assert first.quality is Quality.GOOD
    assert first.value is not None
    assert first.anomaly is not None
    assert first.window_end == T0 + timedelta(seconds=14)
    feed(cache, Quality.COMM_ERROR)
    (bad,) = step(target, cache, 15)
    assert bad.quality is Quality.COMM_ERROR
    assert bad.value is None
    assert bad.anomaly is None


def test_rows_are_stamped_to_the_millisecond_the_history_keeps() -> None:
    # Issue #12: the alarms debounce on the outputs' time and the agreement view replays
    # the history's; a sub-millisecond part would make them disagree on a delay's row.
    target, cache = scorer("anomaly"), TagCache()
    feed(cache)
    for i in range(15):
        target.sample(cache, T0 + timedelta(seconds=i, microseconds=1999))
    (job,) = target.due()
    assert job.window.end_time == T0 + timedelta(seconds=14, milliseconds=1)


def test_last_usable_inputs_make_the_score_uncertain_not_good() -> None:
    target, cache = scorer("anomaly"), TagCache()
    feed(cache)
    for i in range(15):
        step(target, cache, i)
    feed(cache, Quality.LAST_USABLE)
    (result,) = step(target, cache, 15)
    assert result.quality is Quality.LAST_USABLE
    assert result.value is not None


def test_rul_is_uncertain_until_the_baseline_then_good() -> None:
    target, cache = scorer("rul"), TagCache()
    feed(cache)
    qualities = [step(target, cache, i)[0].quality for i in range(25)]
    assert qualities[:19] == [Quality.LAST_USABLE] * 19
    assert qualities[20:] == [Quality.GOOD] * 5
    (last,) = step(target, cache, 25)
    assert last.value is not None
    assert 0.0 <= last.value < 20.0  # hours, for a pump with a 12-hour bearing life


def test_rul_state_survives_a_restart(tmp_path: Path) -> None:
    store = AssetStateStore(tmp_path)
    target, cache = scorer("rul"), TagCache()
    feed(cache)
    for i in range(30):
        step(target, cache, i)
    store.save({("pump", "rul"): target.rul_states["rul"]})

    restarted = scorer("rul")
    saved = store.load("pump", "rul")
    assert saved is not None
    restarted.restore("rul", saved)
    (result,) = step(restarted, cache, 30)
    assert restarted.rul_states["rul"].cycle == 31
    # The life goes on, but the emptied buffer holds 1 of the 31 expected rows.
    assert result.quality is Quality.LAST_USABLE


def test_a_damaged_state_file_starts_anew(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = AssetStateStore(tmp_path)
    store.path("pump", "rul").write_text("{not json", encoding="utf-8")
    assert store.load("pump", "rul") is None
    assert "starting anew" in caplog.text
