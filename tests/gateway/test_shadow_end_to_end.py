"""A candidate model in shadow on a real gateway polling a pymodbus server (issue #12): its
outputs reach the history under pump1.shadow.* and nothing else (no alarm, no OPC UA
variable, ModelVersion unchanged, seen by an asyncua client); a failing shadow leaves the
active model scoring; the shadow survives a restart; activation (ModelVersion changes),
roll back and discard; the agreement view counts the shadow's episodes; a stopped shadow
stays a candidate, to be shadowed or activated later."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import Client, ua

from gateway.app import Gateway
from gateway.config import load_config
from gateway.page.model_manager import ModelRequestError
from gateway.store.model_timeline import FILE_NAME, ModelTimeline
from tests.fixtures.assets import normal_recording, train
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.test_web_browser import PASSWORD, serve_floats

WAIT_S = 15.0
SIGNALS = ("flow", "pressure")
SHADOW_KEYS = ("pump1.shadow.AnomalyScore", "pump1.shadow.Anomaly")


def config_text(pump: PymodbusServer, data_dir: Path, models_dir: Path) -> str:
    return f"""\
[gateway]
name = "plant"
data_dir = "{data_dir}"

[opcua]
endpoint = "{LOOPBACK_ENDPOINT}"
namespace = "urn:uvelka:test"
security = ["None"]
anonymous = true

[analytics]
models_dir = "{models_dir}"
reload_interval = 0.2

[history]
flush_interval = 0.1

[web]
port = 0

[[devices]]
name = "pump1"
url = "{pump.url}"
poll_interval = 0.05
timeout = 0.5
tags = [
  {{ name = "flow", table = "holding", address = 0, type = "float32", unit = "m3/h" }},
  {{ name = "pressure", table = "holding", address = 2, type = "float32", unit = "bar" }},
]

[[assets]]
name = "pump1"
anomaly = "pump.onnx"
interval = 0.05
inputs = {{ flow = "pump1.flow", pressure = "pump1.pressure" }}
"""


@dataclass
class Plant:
    pump: PymodbusServer
    config_file: Path
    candidate: bytes  # a model whose normal is 1.5 times the pump's flow: it alarms


@pytest.fixture
async def plant(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Plant:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    serve_floats(pump, 0, 50.0, 4.0)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    normal = normal_recording(tmp_path / "normal.csv", SIGNALS)
    await asyncio.to_thread(train, normal, models_dir / "pump.onnx", SIGNALS)
    lines = normal.read_text(encoding="utf-8").splitlines()
    shifted = [lines[0]] + [
        f"{time},{float(flow) * 1.5:.5f},{pressure}"
        for time, flow, pressure in (line.split(",") for line in lines[1:])
    ]
    (tmp_path / "shifted.csv").write_text("\n".join(shifted) + "\n", encoding="utf-8")
    await asyncio.to_thread(train, tmp_path / "shifted.csv", tmp_path / "candidate.onnx", SIGNALS)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, tmp_path / "var", models_dir), encoding="utf-8")
    return Plant(pump, config_file, (tmp_path / "candidate.onnx").read_bytes())


def serving(plant: Plant) -> AbstractAsyncContextManager[tuple[Gateway, Client]]:
    # A start checks the model in a child process: slow on a loaded machine.
    return running(load_config(plant.config_file), plant.config_file, start_s=60.0)


async def shadow_points(gateway: Gateway, since: datetime) -> list[float | None]:
    history = gateway.running.history
    assert history is not None
    assert history.current is not None
    found = await history.current.query(
        ["pump1.shadow.Anomaly"], since, datetime.now(UTC) + timedelta(seconds=1)
    )
    return [bucket.mean for bucket in found["pump1.shadow.Anomaly"]]


async def wait_for_shadow_alarm(gateway: Gateway, since: datetime) -> None:
    async with asyncio.timeout(WAIT_S):
        while True:
            if 1.0 in await shadow_points(gateway, since):
                return
            await asyncio.sleep(0.1)  # polling the history for a condition


async def test_a_candidate_in_shadow_goes_to_the_history_only_and_can_be_activated(
    plant: Plant,
) -> None:
    async with serving(plant) as (gateway, client):
        node = node_of(gateway, client)
        parts = gateway.running
        await wait_value(
            node("pump1.AnomalyScore"), lambda dv: dv.StatusCode.is_good(), "a first score"
        )
        first = await node("pump1.ModelVersion").read_value()
        first_version = parts.assets.slots[0].version
        outcome = await parts.models.upload("pump1", "anomaly", plant.candidate, "admin")
        assert outcome.version is not None
        candidate = outcome.version

        since = datetime.now(UTC)
        status = await parts.shadows.start("pump1", "anomaly", candidate, "admin")
        assert status == f"shadow: {candidate}"
        await wait_for_shadow_alarm(gateway, since)

        # Nothing but the history saw it: the active model's alarm and outputs are calm,
        # OPC UA has no shadow variable and its ModelVersion is the active one's.
        assert not parts.hub.alarms["pump1_anomaly"].active
        assert (await node("pump1.Anomaly").read_value()) is False
        assert await node("pump1.ModelVersion").read_value() == first
        missing = await node("pump1.shadow.AnomalyScore").read_data_value(raise_on_bad_status=False)
        assert missing.StatusCode.value == ua.StatusCodes.BadNodeIdUnknown
        history = parts.history
        assert history is not None
        assert history.current is not None
        assert set(SHADOW_KEYS) <= set(history.current.keys())
        shown = parts.shadows.shadow_of("pump1", "anomaly")
        assert shown is not None
        assert shown["version"] == candidate
        assert shown["by"] == "admin"

        # A shadow that fails (its model stopped: every inference raises) is shown failing;
        # the active model scores on.
        scorer = parts.scoring.scorers[0] if parts.scoring is not None else None
        assert scorer is not None
        scorer.shadows["anomaly"].model.close()
        await wait_until(
            lambda: scorer.shadows["anomaly"].error is not None, WAIT_S, "the shadow failing"
        )
        before = await node("pump1.AnomalyScore").read_data_value()
        await wait_value(
            node("pump1.AnomalyScore"),
            lambda dv: dv.StatusCode.is_good() and dv.SourceTimestamp > before.SourceTimestamp,
            "the active model scoring on",
        )
        failing = parts.shadows.shadow_of("pump1", "anomaly")
        assert failing is not None
        assert "failing" in failing["status"]
        assert not gateway.running.supervisor.failures.failing()
        # Put back in shadow (a fresh load of the candidate), it scores again.
        await parts.shadows.start("pump1", "anomaly", candidate, "admin")

    # A restart puts the candidate back in shadow; the timeline has its period.
    async with serving(plant) as (gateway, client):
        node = node_of(gateway, client)
        parts = gateway.running
        shown = parts.shadows.shadow_of("pump1", "anomaly")
        assert shown is not None
        assert shown["version"] == candidate
        since = datetime.now(UTC)
        await wait_for_shadow_alarm(gateway, since)
        assert await node("pump1.ModelVersion").read_value() == first

        report = await parts.shadows.agreement("pump1", None, None)
        roles = {(v["role"], v["version"]): v for v in report["versions"]}
        assert roles[("shadow", candidate)]["episodes"] >= 1
        assert roles[("active", first_version)]["episodes"] == 0

        # Activation: the validated hot swap; the shadow stops, ModelVersion changes.
        status = await parts.shadows.activate("pump1", "anomaly", candidate, "admin")
        assert status.startswith("ok")
        changed = await wait_value(
            node("pump1.ModelVersion"),
            lambda dv: dv.Value is not None and dv.Value.Value != first,
            "the candidate active",
        )
        assert changed.Value is not None
        assert candidate in changed.Value.Value
        assert parts.shadows.shadow_of("pump1", "anomaly") is None
        for refused in (parts.shadows.discard, parts.shadows.start):
            with pytest.raises(ModelRequestError, match="running anomaly model"):
                await refused("pump1", "anomaly", candidate, "admin")

        # Roll back: the first version runs again; the candidate can then be discarded.
        await parts.models.roll_back("pump1", "anomaly", "admin")
        await wait_value(
            node("pump1.ModelVersion"),
            lambda dv: dv.Value is not None and dv.Value.Value == first,
            "the first version back",
        )
        assert await parts.shadows.discard("pump1", "anomaly", candidate, "admin") == (
            f"{candidate} discarded"
        )
        versions = {v.version: v for v in parts.models.assets()[0].models[0].archive}
        assert versions[candidate].discarded
        assert not versions[candidate].active
        with pytest.raises(ModelRequestError, match="discarded"):
            await parts.shadows.start("pump1", "anomaly", candidate, "admin")
        data_dir = load_config(plant.config_file).gateway.data_dir

    timeline = ModelTimeline.read(data_dir / FILE_NAME)
    periods = [(p.role, p.version, p.end is None) for p in timeline.of("pump1")]
    assert ("shadow", candidate, False) in periods
    assert ("active", candidate, False) in periods
    assert periods[-1] == ("active", first_version, True)
    assert timeline.shadows == []


async def test_a_stopped_shadow_stays_a_candidate_to_shadow_or_activate_later(
    plant: Plant,
) -> None:
    async with serving(plant) as (gateway, _):
        parts = gateway.running
        outcome = await parts.models.upload("pump1", "anomaly", plant.candidate, "admin")
        candidate = outcome.version
        assert candidate is not None
        with pytest.raises(ModelRequestError, match=r"is not in shadow .*\(in shadow: nothing\)"):
            await parts.shadows.stop("pump1", "anomaly", candidate, "admin")
        await parts.shadows.start("pump1", "anomaly", candidate, "admin")
        with pytest.raises(ModelRequestError, match=re.escape(f"(in shadow: {candidate})")):
            await parts.shadows.stop("pump1", "anomaly", "v0-unknown", "admin")
        assert await parts.shadows.stop("pump1", "anomaly", candidate, "admin") == (
            f"{candidate} out of shadow; kept as a candidate"
        )
        assert parts.shadows.shadow_of("pump1", "anomaly") is None
        scorer = parts.scoring.scorers[0] if parts.scoring is not None else None
        assert scorer is not None
        assert "anomaly" not in scorer.shadows
        versions = {v.version: v for v in parts.models.assets()[0].models[0].archive}
        assert not versions[candidate].discarded
        assert not versions[candidate].active
        data_dir = load_config(plant.config_file).gateway.data_dir

    timeline = ModelTimeline.read(data_dir / FILE_NAME)
    assert timeline.shadows == []  # a restart does not put it back
    assert [(p.version, p.end is None) for p in timeline.of("pump1") if p.role == "shadow"] == [
        (candidate, False)
    ]
    async with serving(plant) as (gateway, client):
        parts = gateway.running
        assert parts.shadows.shadow_of("pump1", "anomaly") is None
        # Still a candidate: into shadow again, then activated.
        assert await parts.shadows.start("pump1", "anomaly", candidate, "admin") == (
            f"shadow: {candidate}"
        )
        assert (await parts.shadows.activate("pump1", "anomaly", candidate, "admin")).startswith(
            "ok"
        )
        await wait_value(
            node_of(gateway, client)("pump1.ModelVersion"),
            lambda dv: dv.Value is not None and candidate in dv.Value.Value,
            "the stopped candidate active",
        )
