"""The privilege escalation of issue #14, tried on the running gateway: a model file whose
initializer is external data in the session key file is refused with the reason at start,
as an upload through the page's API and by hot reload; nothing is activated, the running
model scores on, and the refusal is said on the page, the API, OPC UA and the log."""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
import pytest

from analytics.model_file import write_atomically
from gateway.__main__ import main as uvelka
from gateway.config.model import GatewayConfig
from tests.fixtures.assets import CENTRE, good, serve_values
from tests.fixtures.escaping_models import custom_operator, huge_initializer, reading_file
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.page_api import logged_in
from tests.gateway.test_model_sigterm import config_text
from tests.gateway.test_web_browser import PASSWORD
from web.sessions import rotate_key

INPUTS = ("flow", "pressure")
EXTERNAL = "(external data); a model file must hold all of its tensors, refused"


def config(server: PymodbusServer, models_dir: Path, data_dir: Path) -> GatewayConfig:
    """pump1 on the good pump.onnx, pump2 on bad.onnx; the web page on a free port."""
    tags = [{"name": name, "table": "holding", "address": 2 * i, "type": "float32"}
            for i, name in enumerate(CENTRE)]
    inputs = {signal: f"pump1.{signal}" for signal in INPUTS}
    return GatewayConfig.model_validate({
        "gateway": {"name": "plant", "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "analytics": {"models_dir": str(models_dir), "reload_interval": 0.2},
        "devices": [{"name": "pump1", "url": server.url, "poll_interval": 0.05,
                     "timeout": 0.3, "tags": tags}],
        "assets": [
            {"name": "pump1", "anomaly": "pump.onnx", "interval": 0.05, "inputs": inputs},
            {"name": "pump2", "anomaly": "bad.onnx", "interval": 0.05, "inputs": inputs},
        ],
        "web": {"port": 0},
    })


def relative(path: Path) -> str:
    """`path` from the gateway's working folder, where onnxruntime resolves a location when
    it loads a model from bytes (as the gateway does)."""
    return os.path.relpath(path)


@pytest.mark.timeout(120)
async def test_a_model_reading_the_session_key_is_refused_everywhere(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    serve_values(modbus_tcp_server)
    data_dir = tmp_path / "var"
    key_file = data_dir / "web" / "session.key"
    stealing = reading_file(INPUTS, relative(key_file), offset=3, length=4)
    write_atomically(models_dir / "bad.onnx", stealing)
    good_model = (models_dir / "pump.onnx").read_bytes()

    async with running(config(modbus_tcp_server, models_dir, data_dir)) as (gateway, client):
        node = node_of(gateway, client)
        # At start: the slot has no model and says why.
        status = await wait_value(node("pump2.ModelStatus"),
                                  lambda dv: "rejected" in str(dv.Value.Value), "the refusal")
        assert status.Value.Value == (
            f"anomaly: rejected: {models_dir}/bad.onnx: tensor 'stolen' keeps its values in "
            f"another file in {relative(key_file)!r} {EXTERNAL}")
        first = await wait_value(node("pump1.ModelVersion"), good, "pump1's model")
        base = f"http://127.0.0.1:{gateway.running.web.port}"
        manager = gateway.running.models
        assert manager is not None
        archived = [model.archive for entry in manager.assets() for model in entry.models]

        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
            csrf = await logged_in(web, base)
            # As an upload: refused with the reason, nothing archived or activated.
            for model, reason in [
                (stealing, EXTERNAL),
                (custom_operator(INPUTS), "node 'Leak' of the operator domain "
                                          "'com.example.evil', which the gateway does not run"),
                (huge_initializer(INPUTS), "tensor 'huge' [65536, 65536] brings the model's "
                                           "tensors to 16,384 MiB, more than a model load may "
                                           "take (512 MiB); refused"),
            ]:
                form = aiohttp.FormData()
                form.add_field("model", model, filename="pump.onnx")
                async with web.post(f"{base}/api/models/pump1/anomaly", data=form,
                                    headers={"X-CSRF-Token": csrf}) as response:
                    body = await response.json()
                    assert response.status == 409, body
                    assert reason in body["error"], body
                    assert body["error"].startswith(
                        "the model was not taken: uploaded pump.onnx: "), body
            refusals = [r.getMessage() for r in caplog.records if "upload refused" in r.message]
            assert len(refusals) == 3, refusals
            assert EXTERNAL in refusals[0]
            async with web.get(f"{base}/api/models") as response:
                page = await response.json()
            (pump1,) = [m for m in page if m["asset"] == "pump1"]
            assert pump1["status"].startswith("ok: ")
            assert [m.archive for e in manager.assets() for m in e.models] == archived

            # By hot reload, over the running file: refused, the old model scores on.
            write_atomically(models_dir / "pump.onnx", stealing)
            status = await wait_value(node("pump1.ModelStatus"),
                                      lambda dv: "rejected" in str(dv.Value.Value),
                                      "hot reload's refusal")
            assert EXTERNAL in status.Value.Value
            assert (await node("pump1.ModelVersion").read_value()) == first.Value.Value
            await wait_value(node("pump1.AnomalyScore"), good, "pump1 still scoring")
            async with web.get(f"{base}/api/models") as response:
                (pump1,) = [m for m in await response.json() if m["asset"] == "pump1"]
            assert pump1["status"].startswith("rejected: ")
            assert EXTERNAL in pump1["status"]
            write_atomically(models_dir / "pump.onnx", good_model)

            # Had the key leaked: `uvelka web rotate-key` ends every session at once.
            rotate_key(data_dir / "web")
            async with web.get(f"{base}/api/models") as response:
                assert response.status == 401


def test_check_config_names_the_reason(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The commands that load a model file (check-config, and `uvelka run` through it)
    refuse it before onnxruntime sees it, with the same reason."""
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(config_text(modbus_tcp_server, models_dir, tmp_path / "var"))
    write_atomically(models_dir / "pump.onnx", reading_file(INPUTS, "../var/web/session.key"))
    assert uvelka(["check-config", str(config_file)]) == 0
    assert (f"{config_file}: assets[0].anomaly: warning: {models_dir}/pump.onnx: tensor "
            f"'stolen' keeps its values in another file in '../var/web/session.key' "
            f"{EXTERNAL}; the asset starts without its anomaly model") in capsys.readouterr().out
