"""The tag history in the running gateway: what it publishes is recorded and read back,
the configured retention deletes old points, /metrics shows the history and inference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua

from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.page.facade import GatewayWebFacade
from gateway.store import History, Point
from tests.fixtures.assets import (
    CENTRE,
    config_for,
    good,
    serve_values,
)
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.prometheus import metric_value

WAIT_S = 15.0
SCORE_KEYS = ("pump1.AnomalyScore", "pump1.Anomaly")


def with_history(config: GatewayConfig, data_dir: Path, **history: object) -> GatewayConfig:
    return config.model_copy(update={
        "gateway": config.gateway.model_copy(update={"data_dir": data_dir}),
        "history": config.history.model_copy(update=history),
    })


def utc(dv: ua.DataValue) -> datetime:
    stamp = dv.SourceTimestamp
    assert stamp is not None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


async def test_samples_and_scores_are_recorded_and_metrics_show_inference_time(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    server = modbus_tcp_server
    serve_values(server)
    config = with_history(config_for(server, models_dir), tmp_path / "var", flush_interval=0.1)
    start = datetime.now(UTC) - timedelta(seconds=1)
    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        history = gateway.running.history.current
        assert history is not None
        score = await wait_value(node("pump1.AnomalyScore"), good, "a score")
        serve_values(server, flow=CENTRE["flow"] * 1.5)
        await wait_value(node("pump1.flow"), lambda dv: dv.Value.Value > 70.0, "the new flow")
        await wait_until(lambda: history.stats.pending == 0 and history.stats.written > 0,
                         WAIT_S, "the points to be written")

        end = datetime.now(UTC) + timedelta(seconds=1)
        result = await history.query(["pump1.flow", "pump1.pressure", *SCORE_KEYS], start, end)
        metrics = GatewayWebFacade(gateway.running).metrics()

    flows = [bucket.mean for bucket in result["pump1.flow"]]
    assert flows[0] == pytest.approx(CENTRE["flow"])
    assert flows[-1] == pytest.approx(CENTRE["flow"] * 1.5)
    assert {bucket.quality for bucket in result["pump1.flow"]} == {Quality.GOOD}
    assert [bucket.mean for bucket in result["pump1.pressure"]] == [
        pytest.approx(CENTRE["pressure"])]
    # The score OPC UA showed is in the history at its SourceTimestamp (to the millisecond).
    scores = {bucket.start: bucket.mean for bucket in result["pump1.AnomalyScore"]}
    at = utc(score).replace(microsecond=utc(score).microsecond // 1000 * 1000)
    assert scores[at] == pytest.approx(score.Value.Value)
    decisions = result["pump1.Anomaly"]
    assert [bucket.start for bucket in decisions] == list(scores)
    assert {bucket.mean for bucket in decisions} <= {0.0, 1.0}

    assert metric_value(metrics, "uvelka_inference_seconds_count", model="pump.onnx") >= 1
    assert metric_value(metrics, "uvelka_inference_seconds_sum", model="pump.onnx") > 0.0
    assert metric_value(metrics, "uvelka_inference_windows_total", model="pump.onnx") >= 1
    assert 0.0 < metric_value(metrics, "uvelka_inference_max_seconds", model="pump.onnx") < 5.0
    assert "# TYPE uvelka_inference_seconds summary" in metrics.splitlines()
    assert metric_value(metrics, "uvelka_history_points_written_total") >= len(flows) + len(scores)
    assert metric_value(metrics, "uvelka_history_points_dropped_total") == 0
    assert metric_value(metrics, "uvelka_history_file_bytes") > 0


async def test_the_configured_retention_deletes_older_points(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    data_dir = tmp_path / "var"
    now = datetime.now(UTC)
    old, recent = now - timedelta(seconds=600), now - timedelta(seconds=60)
    # Left by an earlier run: one point past the retention below, one within it.
    async with History.open(data_dir / "history.sqlite", retention_s=86400.0) as earlier:
        earlier.record([Point("pump1.flow", old, 1.0, Quality.GOOD),
                        Point("pump1.flow", recent, 2.0, Quality.GOOD)])
    config = with_history(config_for(modbus_tcp_server, models_dir), data_dir, retention=300.0)

    async with running(config) as (gateway, _):
        history = gateway.running.history.current
        assert history is not None
        await wait_until(lambda: history.stats.expired == 1, WAIT_S, "the old point to go")
        kept = await history.query(["pump1.flow"], old - timedelta(seconds=1),
                                   recent + timedelta(seconds=1))

    assert [(bucket.start, bucket.mean) for bucket in kept["pump1.flow"]] == [
        (recent.replace(microsecond=recent.microsecond // 1000 * 1000), 2.0)]


async def test_a_disabled_history_keeps_nothing(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    data_dir = tmp_path / "var"
    config = with_history(config_for(modbus_tcp_server, models_dir), data_dir, enabled=False)
    async with running(config) as (gateway, client):
        await wait_value(node_of(gateway, client)("pump1.AnomalyScore"), good, "a score")
        assert gateway.running.history is None
        assert "uvelka_history" not in GatewayWebFacade(gateway.running).metrics()
    assert not (data_dir / "history.sqlite").exists()
