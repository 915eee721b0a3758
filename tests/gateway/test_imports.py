"""A serving gateway imports only what its configuration uses (issue #10): no numpy, ONNX
runtime, scipy or training stack without assets, no web stack without [web], no MQTT client
without [mqtt], no Modbus simulator; the model runtime with assets, the training stack
never. The command line's own imports (`uvelka run`) are included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# numpy (~15 MiB, ~0.3 s of a start) comes with the asset machinery: the features, the
# scorers, the models' manifests and runtime.
MODEL_RUNTIME = ("numpy", "onnxruntime", "analytics.inference", "analytics.manifest",
                 "gateway.runtime.scoring")
TRAINING = ("sklearn", "skl2onnx", "onnx", "analytics.training", "analytics.evaluation")
ANALYTICS = (*MODEL_RUNTIME, "scipy", *TRAINING)
WEB = ("aiohttp", "aiohttp_session", "cryptography.fernet", "prometheus_client", "web.app",
       "gateway.page.site", "gateway.page.facade", "gateway.page.metrics")
MQTT = ("paho", "gateway.mqtt.bridge")
# pymodbus's server package loads its HTTP simulator (and aiohttp); the demo's broker;
# training from the gateway's history (numpy).
COMMANDS = ("pymodbus.server", "amqtt", "gateway.cli.history_training")

# Serves the configuration given until the OPC UA server accepts clients, then prints
# which of the named modules the process holds.
PROBE = """
import asyncio, json, sys
from pathlib import Path

import gateway.__main__  # what `uvelka run` imports before it serves
from gateway.app import Gateway
from gateway.config import load_config

async def main():
    gateway = Gateway(load_config(Path(sys.argv[1])))
    serving = asyncio.create_task(gateway.serve())
    await asyncio.wait_for(gateway.started.wait(), 40)
    print(json.dumps([name for name in json.loads(sys.argv[2]) if name in sys.modules]))
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)

asyncio.run(main())
"""


# An asset scored by a shipped model, on the one tag.
ASSET = f"""
[analytics]
models_dir = {json.dumps(str(REPO / "models_onnx"))}

[[assets]]
name = "pump1"
anomaly = "pump_anomaly.onnx"
  [assets.inputs]
  vibration_rms = "pump.speed"
  vibration_hf = "pump.speed"
  bearing_temperature = "pump.speed"
"""


def one_tag_config(folder: Path, web: bool, asset: bool = False) -> Path:
    # The device's port is closed: its link is down, which changes nothing imported.
    text = f"""
[gateway]
name = "lean"
data_dir = {json.dumps(str(folder / "data"))}

[opcua]
endpoint = "opc.tcp://127.0.0.1:0/uvelka"
security = ["None"]
anonymous = true

{'[web]' if web else ''}
{'port = 0' if web else ''}
{ASSET if asset else ''}

[[devices]]
name = "pump"
url = "modbus-tcp://127.0.0.1:9"
  [[devices.tags]]
  name = "speed"
  table = "holding"
  address = 0
  type = "uint16"
"""
    path = folder / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def loaded_while_serving(config: Path, names: tuple[str, ...]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), json.dumps(names)],
        cwd=REPO, capture_output=True, text=True, timeout=50, check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.timeout(60)
def test_a_one_tag_gateway_without_assets_or_web_imports_neither(tmp_path: Path) -> None:
    config = one_tag_config(tmp_path, web=False)
    assert loaded_while_serving(config, ANALYTICS + WEB + MQTT + COMMANDS) == []


@pytest.mark.timeout(60)
def test_the_web_stack_comes_with_web(tmp_path: Path) -> None:
    config = one_tag_config(tmp_path, web=True)
    assert loaded_while_serving(config, ANALYTICS + WEB + MQTT + COMMANDS) == list(WEB)


@pytest.mark.timeout(60)
def test_the_model_runtime_comes_with_assets_and_the_training_stack_never(
    tmp_path: Path,
) -> None:
    config = one_tag_config(tmp_path, web=False, asset=True)
    assert loaded_while_serving(config, ANALYTICS + WEB + MQTT + COMMANDS) == list(MODEL_RUNTIME)
