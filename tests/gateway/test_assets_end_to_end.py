"""Assets end to end: Modbus tags -> ring buffer -> ONNX model -> OPC UA outputs, hot reload."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from asyncua import ua

from drivers.modbus.simulator import PlantSimulator, SimulatorOptions
from gateway.cli.demo import demo_config
from tests.fixtures.assets import CENTRE, config_for, good, normal_recording, serve_values, train
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT

WAIT_S = 15.0


async def test_scores_follow_the_tags_and_their_quality(
    modbus_tcp_server: PymodbusServer, models_dir: Path
) -> None:
    server = modbus_tcp_server
    serve_values(server)
    async with running(config_for(server, models_dir)) as (gateway, client):
        node = node_of(gateway, client)
        calm = await wait_value(node("pump1.AnomalyScore"), good, "a good score")
        assert 0.0 <= calm.Value.Value < 3.0
        assert (await node("pump1.Anomaly").read_value()) is False
        assert calm.SourceTimestamp is not None
        version = await node("pump1.ModelVersion").read_value()
        assert "pump" in version

        serve_values(server, flow=CENTRE["flow"] * 1.5)
        high = await wait_value(node("pump1.AnomalyScore"),
                                lambda dv: good(dv) and dv.Value.Value > 3.0, "a high score")
        assert high.SourceTimestamp > calm.SourceTimestamp
        assert (await node("pump1.Anomaly").read_value()) is True

        await server.stop()
        await wait_value(node("pump1.AnomalyScore"),
                         lambda dv: dv.StatusCode.value == ua.StatusCodes.BadCommunicationError,
                         "the score to go bad with its inputs")
        await server.start()
        await wait_value(node("pump1.AnomalyScore"), good, "a good score again")


async def test_hot_reload_swaps_good_files_and_rejects_bad_ones(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    server = modbus_tcp_server
    serve_values(server)
    model = models_dir / "pump.onnx"
    async with running(config_for(server, models_dir)) as (gateway, client):
        node = node_of(gateway, client)
        await wait_value(node("pump1.AnomalyScore"), good, "a first score")
        first = await node("pump1.ModelVersion").read_value()

        # A new model for the same inputs, written beside and renamed over, as train does.
        both = ("flow", "pressure")
        train(normal_recording(tmp_path / "again.csv", both, seed=8), model, both)
        await wait_value(node("pump1.ModelVersion"), lambda dv: dv.Value.Value != first,
                         "the new model's version")
        second = await node("pump1.ModelVersion").read_value()
        assert (await node("pump1.ModelStatus").read_value()).startswith("anomaly: ok")

        # A corrupt file is rejected with its reason; the running model keeps scoring.
        corrupt = models_dir / ".pump.onnx.tmp"
        corrupt.write_bytes(b"not an onnx model")
        corrupt.replace(model)
        await wait_value(node("pump1.ModelStatus"),
                         lambda dv: "rejected" in str(dv.Value.Value), "a rejection")
        before = await node("pump1.AnomalyScore").read_data_value()
        await wait_value(node("pump1.AnomalyScore"),
                         lambda dv: good(dv) and dv.SourceTimestamp > before.SourceTimestamp,
                         "scoring to go on with the old model")
        assert await node("pump1.ModelVersion").read_value() == second

        # A model asking for an input the asset does not map is rejected too.
        other = ("flow", "vibration")
        CENTRE["vibration"] = 2.0
        try:
            train(normal_recording(tmp_path / "other.csv", other), model, other)
        finally:
            del CENTRE["vibration"]
        await wait_value(node("pump1.ModelStatus"),
                         lambda dv: "vibration" in str(dv.Value.Value), "a mapping rejection")
        assert await node("pump1.ModelVersion").read_value() == second
        assert gateway.running.watcher is not None


async def test_sighup_reloads_at_once(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    server = modbus_tcp_server
    serve_values(server)
    config = config_for(server, models_dir)
    config = config.model_copy(update={
        "analytics": config.analytics.model_copy(update={"reload_interval": 3600.0})
    })
    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        await wait_value(node("pump1.AnomalyScore"), good, "a first score")
        first = await node("pump1.ModelVersion").read_value()
        both = ("flow", "pressure")
        train(normal_recording(tmp_path / "again.csv", both, seed=9), models_dir / "pump.onnx",
              both)
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_value(node("pump1.ModelVersion"), lambda dv: dv.Value.Value != first,
                         "the new model after SIGHUP")


async def test_simulated_pump_is_scored_by_the_shipped_models() -> None:
    options = SimulatorOptions(devices=1, base_port=0, seed=3, speedup=60.0)
    async with PlantSimulator(options) as plant:
        demo = demo_config()
        pump = demo.devices[0].model_copy(
            update={"url": f"modbus-tcp://127.0.0.1:{plant.ports[0]}", "poll_interval": 0.1}
        )
        asset = demo.assets[0].model_copy(update={"interval": 0.1})
        config = demo.model_copy(update={
            "opcua": demo.opcua.model_copy(update={"endpoint": LOOPBACK_ENDPOINT}),
            "devices": [pump], "assets": [asset],
        })
        async with running(config) as (gateway, client):
            node = node_of(gateway, client)
            score = await wait_value(node("pump1.AnomalyScore"), good, "an anomaly score")
            await wait_value(
                node("pump1.AnomalyScore"),
                lambda dv: good(dv) and dv.SourceTimestamp > score.SourceTimestamp,
                "the next anomaly score",
            )
            rul = await wait_value(node("pump1.RemainingUsefulLife"), good, "a good RUL")
            assert 0.0 < rul.Value.Value < 20.0
            assert "rul: ok" in await node("pump1.ModelStatus").read_value()
