"""A model file refused at start fails its slot, not the gateway (issue #17).

A corrupt, hostile or unfitting file in models_dir used to end `uvelka run` with exit
code 2 at every start: the plant lost polling and OPC UA until someone edited files. Now
the asset starts without that model (ModelStatus says why, its outputs are Bad with
BadConfigurationError), everything else runs, and a good file dropped in is taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from asyncua import ua

from analytics.model_file import write_atomically
from gateway.__main__ import main as uvelka
from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from gateway.page.facade import GatewayWebFacade
from gateway.page.views import health
from tests.fixtures.assets import CENTRE, good, serve_values
from tests.fixtures.gateway import has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.model_files import endless_loop
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.prometheus import metric_value
from tests.gateway.test_model_sigterm import config_text, ends_on_sigterm, uvelka_run

INPUTS = ("flow", "pressure")
CONFIG_ERROR = ua.StatusCodes.BadConfigurationError
# The endless model's check is refused after this long: the start waits for it. The
# gateway's default: a good model's check, in a child of lower priority, may wait seconds
# for a core on the loaded 2-core CI machine (tests/gateway/page/test_model_manager.py).
CHECK_TIMEOUT_S = 10.0


def truncated(models_dir: Path) -> bytes:
    return (models_dir / "pump.onnx").read_bytes()[:500]


def endless(_: Path) -> bytes:
    return endless_loop(INPUTS)


async def drop_in(gateway: Gateway, models_dir: Path) -> None:
    """A good file written over the refused one, as `uvelka train` writes it."""
    write_atomically(models_dir / "bad.onnx", (models_dir / "pump.onnx").read_bytes())


async def activate(gateway: Gateway, models_dir: Path) -> None:
    """A good file uploaded for the refused slot and activated, as the page does."""
    manager = gateway.running.models
    assert manager is not None
    upload = await manager.upload("pump2", "anomaly", (models_dir / "pump.onnx").read_bytes(),
                                  "anna")
    assert upload.version is not None, upload.reason
    status = await manager.activate("pump2", "anomaly", upload.version, "anna")
    assert status == f"ok: {upload.version}"


def config(server: PymodbusServer, models_dir: Path, data_dir: Path) -> GatewayConfig:
    """Device pump1; asset pump1 on the good pump.onnx, pump2 on bad.onnx (anomaly),
    pump3 on bad_rul.onnx (rul, with its default alarm), all on pump1's tags."""
    tags = [
        {"name": name, "table": "holding", "address": 2 * i, "type": "float32"}
        for i, name in enumerate(CENTRE)
    ]
    inputs = {signal: f"pump1.{signal}" for signal in INPUTS}
    return GatewayConfig.model_validate({
        "gateway": {"name": "plant", "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "analytics": {"models_dir": str(models_dir), "reload_interval": 0.2,
                      "check_timeout": CHECK_TIMEOUT_S},
        "devices": [{"name": "pump1", "url": server.url, "poll_interval": 0.05,
                     "timeout": 0.3, "tags": tags}],
        "assets": [
            {"name": "pump1", "anomaly": "pump.onnx", "interval": 0.05, "inputs": inputs},
            {"name": "pump2", "anomaly": "bad.onnx", "interval": 0.05, "inputs": inputs},
            {"name": "pump3", "rul": "bad_rul.onnx", "interval": 0.05, "inputs": inputs},
        ],
    })


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("bad_file", "reason", "heal"), [
    (truncated, "bad.onnx: not a loadable ONNX model", drop_in),
    (endless, f"bad.onnx: the model's test inference took longer than {CHECK_TIMEOUT_S:g} s",
     activate),
])
async def test_a_refused_model_fails_its_slot_and_the_rest_runs(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path,
    bad_file: Callable[[Path], bytes], reason: str,
    heal: Callable[[Gateway, Path], Awaitable[None]],
) -> None:
    serve_values(modbus_tcp_server)
    write_atomically(models_dir / "bad.onnx", bad_file(models_dir))
    write_atomically(models_dir / "bad_rul.onnx", b"not a model")
    async with running(config(modbus_tcp_server, models_dir, tmp_path / "var")) as (
        gateway, client
    ):
        node = node_of(gateway, client)
        await wait_value(node("pump1.flow"), good, "the device's tag to be Good")
        await wait_value(node("pump1.AnomalyScore"), good, "the good asset to score")
        status = await wait_value(node("pump2.ModelStatus"),
                                  lambda dv: "rejected" in str(dv.Value.Value),
                                  "the refused slot's status")
        assert status.Value.Value.startswith(f"anomaly: rejected: {models_dir}/{reason}")
        assert (await node("pump2.ModelVersion").read_value()) == "anomaly: none"
        rul_status = await wait_value(node("pump3.ModelStatus"),
                                      lambda dv: "rejected" in str(dv.Value.Value),
                                      "the refused rul slot's status")
        assert "bad_rul.onnx: not a loadable ONNX model" in rul_status.Value.Value
        outputs = ["pump2.AnomalyScore", "pump2.Anomaly", "pump3.RemainingUsefulLife"]
        for key in outputs:
            await wait_value(node(key), has_status(CONFIG_ERROR), f"{key} Bad")
        # The good asset scores on; the refused ones never show a value.
        scored = gateway.running.scoring.batches if gateway.running.scoring is not None else 0
        await wait_value(node("pump1.AnomalyScore"),
                         lambda _: gateway.running.scoring is not None
                         and gateway.running.scoring.batches > scored + 3,
                         "more scoring batches")
        for key in outputs:
            value = await node(key).read_data_value(raise_on_bad_status=False)
            assert value.StatusCode.value == CONFIG_ERROR, key
            assert value.Value.Value is None, key

        problems = health(gateway.running)["problems"]
        assert any(line.startswith("asset pump2: no anomaly model: rejected: ")
                   for line in problems), problems
        assert any(line.startswith("asset pump3: no rul model: rejected: ")
                   for line in problems), problems
        metrics = GatewayWebFacade(gateway.running).metrics()
        slot = {"kind": "anomaly"}
        assert metric_value(metrics, "uvelka_model_running", asset="pump2", **slot) == 0
        assert metric_value(metrics, "uvelka_model_running", asset="pump1", **slot) == 1
        assert metric_value(metrics, "uvelka_model_refusals_total", asset="pump2", **slot) == 1

        # A good file put in place is taken, as hot reload takes it for a running slot.
        await heal(gateway, models_dir)
        await wait_value(node("pump2.ModelStatus"),
                         lambda dv: str(dv.Value.Value).startswith("anomaly: ok: "),
                         "the good file to be taken")
        await wait_value(node("pump2.AnomalyScore"), good, "the healed asset to score")
        assert (await node("pump2.Anomaly").read_value()) is False
        problems = health(gateway.running)["problems"]
        assert not any(line.startswith("asset pump2:") for line in problems)


async def test_uvelka_run_with_a_corrupt_model_serves(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    """It used to exit 2 ("not a loadable ONNX model") at every start."""
    serve_values(modbus_tcp_server)
    write_atomically(models_dir / "pump.onnx", truncated(models_dir))
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(config_text(modbus_tcp_server, models_dir, tmp_path / "var"))
    async with uvelka_run(config_file, tmp_path / "uvelka.log") as process:
        await process.until(process.serving, "the gateway to serve")
        await process.until(lambda: "model" in process.log.read_text()
                            and "rejected" in process.log.read_text(),
                            "the refusal in the log")
        log = process.log.read_text()
        assert log.count("not a loadable ONNX model") == 2, log  # check-config's warning, slot
        assert process.process.returncode is None
        await ends_on_sigterm(process)


def test_check_config_warns_of_a_corrupt_model_and_refuses_a_missing_one(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file that exists but cannot serve is a run-time condition of its slot (warning);
    a file that is not there is a configuration error, as before."""
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(config_text(modbus_tcp_server, models_dir, tmp_path / "var"))
    write_atomically(models_dir / "pump.onnx", truncated(models_dir))
    assert uvelka(["check-config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert (f"{config_file}: assets[0].anomaly: warning: {models_dir}/pump.onnx: not a "
            f"loadable ONNX model") in out
    assert "the asset starts without its anomaly model until a good file is put there" in out

    (models_dir / "pump.onnx").unlink()
    assert uvelka(["check-config", str(config_file)]) == 1
    assert (f"{config_file}: assets[0].anomaly: {models_dir}/pump.onnx: cannot read: "
            f"No such file or directory") in capsys.readouterr().out

