"""Training from history on the real gateway (issue #12): a gateway polling a pymodbus server
trains a model from its own history through the page's API in a child process while it
goes on polling (its poll count keeps rising); the result is a candidate in the model
archive with its manifest, never active; a job is cancelled; the disk full while the
candidate is written fails the job with that reason and the archive keeps what it held."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from analytics.inference import Model
from gateway.config import load_config
from tests.fixtures.assets import CENTRE, normal_recording, train
from tests.fixtures.disk import SmallDiskFactory
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.page_api import JOB_WAIT_S, Page, serving_page, wait_for_state
from tests.gateway.test_history_training import SECONDS, T0, record_history
from tests.gateway.test_web_browser import PASSWORD, serve_floats

WAIT_S = JOB_WAIT_S
pytestmark = pytest.mark.timeout(2 * WAIT_S)
SIGNALS = tuple(CENTRE)
RANGE = {"from": T0.isoformat(), "to": (T0 + timedelta(seconds=SECONDS)).isoformat()}


def config_text(pump: PymodbusServer, data_dir: Path, models_dir: Path) -> str:
    inputs = ", ".join(f'{name} = "pump1.{name}"' for name in SIGNALS)
    tags = ",\n".join(
        f'  {{ name = "{name}", table = "holding", address = {2 * i}, type = "float32" }}'
        for i, name in enumerate(SIGNALS)
    )
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
{tags}
]

[[assets]]
name = "pump1"
anomaly = "pump.onnx"
interval = 1.0
inputs = {{ {inputs} }}
"""


@dataclass
class Plant:
    config_file: Path
    data_dir: Path


@pytest.fixture
async def plant(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Plant:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    serve_floats(pump, 0, *CENTRE.values())
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    normal = normal_recording(tmp_path / "normal.csv", SIGNALS)
    await asyncio.to_thread(train, normal, models_dir / "pump.onnx", SIGNALS)
    data_dir = tmp_path / "var"
    # What the gateway recorded of this pump in the past hour (an outage, a fault).
    await asyncio.to_thread(record_history, data_dir)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, data_dir, models_dir), encoding="utf-8")
    return Plant(config_file, data_dir)


def page_of(plant: Plant) -> AbstractAsyncContextManager[Page]:
    return serving_page(load_config(plant.config_file), plant.config_file)


async def test_a_job_trains_a_candidate_from_the_history_while_polling_goes_on(
    plant: Plant,
) -> None:
    async with page_of(plant) as page:
        history = await page.get("/api/training/assets")
        (pump,) = history["assets"]
        assert pump["asset"] == "pump1"
        assert pump["history"]["first"] == T0.isoformat()
        running_version = page.gateway.running.assets.slots[0].version
        before = await page.versions()

        status, job = await page.post("/api/training/jobs", {"asset": "pump1", **RANGE})
        assert status == 201, job
        polls = [await page.polls()]
        while (job := await page.job(job["id"]))["state"] in ("queued", "running"):
            await asyncio.sleep(0.5)  # sampling the poll count while the child trains
            polls.append(await page.polls())
        assert job["state"] == "done", job["reason"]
        # The gateway polled all along: its count rose at every look.
        assert len(polls) >= 3
        assert all(later > earlier for earlier, later in zip(polls, polls[1:], strict=False)), polls

        result = job["result"]
        assert result["asset"] == "pump1"
        assert 0 <= result["validation"]["false_alarm_rate"] <= 1
        version = result["version"]
        after = await page.versions()
        assert len(after) == len(before) + 1
        (candidate,) = [v for v in after if v["version"] == version]
        assert candidate["origin"] == "candidate"
        assert candidate["active"] is False
        assert page.gateway.running.assets.slots[0].version == running_version

        # The archive holds it (nothing was in place to keep: nothing was activated).
        (folder,) = [f for f in (plant.data_dir / "models").iterdir() if f.is_dir()]
        (file,) = folder.glob("*.onnx")
        manifest = Model.load(file).manifest
        params = manifest.recipe.params["history"]
        assert params["asset"] == "pump1"
        assert params["rows"] == SECONDS
        assert manifest.data.sha256 == result["data_sha256"]
        assert not (plant.data_dir / "training" / f"job-{job['id']}").exists()

        audit = await page.get("/api/audit")
        assert any(entry["action"] == "training job queued" for entry in audit)


async def test_a_running_job_is_cancelled_and_stores_nothing(plant: Plant) -> None:
    async with page_of(plant) as page:
        before = await page.versions()
        status, job = await page.post("/api/training/jobs", {"asset": "pump1", **RANGE})
        assert status == 201
        await wait_until(
            lambda: page.gateway.running.training.child_pid() is not None, 60, "the child"
        )
        status, cancelled = await page.post(f"/api/training/jobs/{job['id']}/cancel")
        assert status == 200, cancelled
        job = await wait_for_state(page, job["id"], ("cancelled", "done", "failed"))
        assert (job["state"], job["reason"]) == ("cancelled", "cancelled while it ran")
        assert await page.versions() == before
        status, answer = await page.post(f"/api/training/jobs/{job['id']}/cancel")
        assert status == 409
        assert "ended already" in answer["error"]


async def test_bad_requests_are_refused_with_the_reason(plant: Plant) -> None:
    async with page_of(plant) as page:
        for body, message in (
            ({"asset": "pump9"}, "no asset 'pump9'"),
            ({"asset": "pump1", "kind": "rul"}, "has no rul model file"),
            ({"asset": "pump1", "from": "2099-01-01T00:00:00Z"}, "is in the future"),
            ({"asset": "pump1", "from": RANGE["to"], "to": RANGE["from"]}, "after its start"),
        ):
            status, answer = await page.post("/api/training/jobs", body)
            assert (status, message in answer["error"]) == (400, True), answer
        assert (await page.get("/api/training/jobs"))["jobs"] == []
        # Too little Good data: the job says so once it runs.
        short = {"from": RANGE["from"], "to": (T0 + timedelta(seconds=300)).isoformat()}
        status, job = await page.post("/api/training/jobs", {"asset": "pump1", **short})
        job = await wait_for_state(page, job["id"], ("done", "failed"))
        assert job["state"] == "failed"
        assert "too little Good data" in job["reason"]


async def test_the_disk_full_while_the_candidate_is_written_fails_the_job(
    plant: Plant, small_disk_factory: SmallDiskFactory
) -> None:
    # The model archive on a small disk of its own, full when the candidate comes.
    archive = small_disk_factory("4m")
    (plant.data_dir / "models").symlink_to(archive.path)
    async with page_of(plant) as page:
        before = await page.versions()
        archive.fill()
        status, job = await page.post("/api/training/jobs", {"asset": "pump1", **RANGE})
        assert status == 201
        job = await wait_for_state(page, job["id"], ("done", "failed", "cancelled"))
        assert job["state"] == "failed"
        assert job["reason"].startswith("the candidate was not stored: ")
        assert "No space left on device" in job["reason"]
        assert await page.versions() == before
        # Room again: the same request makes its candidate.
        archive.free()
        status, job = await page.post("/api/training/jobs", {"asset": "pump1", **RANGE})
        job = await wait_for_state(page, job["id"], ("done", "failed", "cancelled"))
        assert job["state"] == "done", job["reason"]
        assert len(await page.versions()) == len(before) + 1
