"""Trends for diagnosis and the history export (issue #11), in headless Chromium against the
real gateway: a series picked by search, a panel per unit, the alarm limit and the model's
threshold as lines, an alarm activation as a marker, zoom, the page opened for an asset by
its URL, and the shown series exported as the CSV `uvelka train` reads; the CSV API's
answers to bad queries."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from playwright.async_api import Page, expect

from analytics.training.datasets import read_recording
from drivers.base import Table
from gateway.app import Gateway
from gateway.config import load_config
from tests.fixtures.assets import normal_recording, train
from tests.fixtures.browser import BrowserLog
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.test_web_browser import PASSWORD, serve_floats

WAIT_S = 15.0
SIGNALS = ("flow", "pressure")
KEYS = ("pump1.flow", "pump1.pressure", "pump1.AnomalyScore")


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

[history]
flush_interval = 0.1

[web]
port = 0

[[devices]]
name = "pump1"
url = "{pump.url}"
poll_interval = 0.1
timeout = 0.5
tags = [
  {{ name = "flow", table = "holding", address = 0, type = "float32", unit = "m3/h" }},
  {{ name = "pressure", table = "holding", address = 2, type = "float32", unit = "bar" }},
  {{ name = "running", table = "holding", address = 4, type = "bool", bit = 0 }},
]

[[assets]]
name = "pump1"
anomaly = "pump.onnx"
interval = 0.1
inputs = {{ flow = "pump1.flow", pressure = "pump1.pressure" }}

[[alarms]]
name = "flow_high"
source = "pump1.flow"
condition = "above"
limit = 80.0
message = "Flow high"
"""


@pytest.fixture
async def plant(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Gateway, PymodbusServer, str]]:
    """The gateway with history of KEYS, and flow_high raised: (gateway, pump, base URL)."""
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    serve_floats(pump, 0, 50.0, 4.0)
    pump.set(Table.HOLDING, 4, [1])
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    recording = normal_recording(tmp_path / "normal.csv", SIGNALS)
    await asyncio.to_thread(train, recording, models_dir / "pump.onnx", SIGNALS)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, tmp_path / "var", models_dir), encoding="utf-8")
    async with running(load_config(config_file), config_file) as (gateway, _):
        history = gateway.running.history.current
        await wait_until(lambda: set(KEYS) <= set(history.keys()), WAIT_S, "history of KEYS")
        serve_floats(pump, 0, 90.0)
        hub = gateway.running.hub
        await wait_until(lambda: hub.alarms["flow_high"].active, WAIT_S, "flow_high")
        yield gateway, pump, f"http://127.0.0.1:{gateway.running.web.port}"


async def log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(base + "/")


async def pick(page: Page, search: str, key: str) -> None:
    await page.get_by_label("Search series").fill(search)
    await page.locator(f'#matches button[data-key="{key}"]').click()
    await expect(page.locator(f'#chosen li[data-key="{key}"]')).to_be_visible()


async def test_series_picked_by_search_draw_a_panel_per_unit_with_limit_and_alarm_marker(
    plant: tuple[Gateway, PymodbusServer, str], page: Page, browser_log: BrowserLog
) -> None:
    _, _, base = plant
    await log_in(page, base)
    await page.goto(base + "/trends")
    await pick(page, "flow", "pump1.flow")
    await pick(page, "bar", "pump1.pressure")  # the search matches units too
    chart = page.locator("#chart")
    await expect(chart).to_have_attribute("data-axes", "2", timeout=WAIT_S * 1000)
    await expect(chart.locator(".g-ytitle")).to_have_text("m3/h")
    await expect(chart.locator(".g-y2title")).to_have_text("bar")
    await expect(chart).to_have_attribute("data-lines", "1")
    await expect(chart.locator(".shapelayer").get_by_text("flow_high limit 80")).to_be_visible()
    await expect(chart).to_have_attribute("data-markers", "1")
    await expect(chart.locator(".legend")).to_contain_text("Alarm activations")
    # Zoom: the page asks the history for the new range, and the URL holds it.
    before = await chart.get_attribute("data-points")
    await page.evaluate("""() => {
        const chart = document.getElementById("chart");
        const [lo, hi] = chart.layout.xaxis.range;
        return window.Plotly.relayout(chart, {"xaxis.range[0]": lo, "xaxis.range[1]": hi});
    }""")
    await expect(page).to_have_url(re.compile(r"/trends\?key=pump1.flow&key=pump1.pressure&start="))
    assert await chart.get_attribute("data-axes") == "2"
    assert before is not None
    browser_log.assert_clean()


async def test_an_assets_url_opens_its_series_with_the_models_threshold_and_exports_them(
    plant: tuple[Gateway, PymodbusServer, str],
    page: Page,
    browser_log: BrowserLog,
    tmp_path: Path,
) -> None:
    _, _, base = plant
    await log_in(page, base)
    await page.goto(base + "/trends?asset=pump1&range=1h")
    for key in ("pump1.flow", "pump1.pressure", "pump1.AnomalyScore", "pump1.Anomaly"):
        await expect(page.locator(f'#chosen li[data-key="{key}"]')).to_be_visible()
    chart = page.locator("#chart")
    # flow and pressure by unit, the score without one, the decision as a state band.
    await expect(chart).to_have_attribute("data-axes", "4", timeout=WAIT_S * 1000)
    await expect(chart.locator(".shapelayer").get_by_text("pump1 model threshold")).to_be_visible()
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    exported = tmp_path / "exported.csv"
    await (await download_info.value).save_as(exported)
    recording = read_recording(exported)
    assert recording.signals == (
        "pump1.flow",
        "pump1.pressure",
        "pump1.AnomalyScore",
        "pump1.Anomaly",
    )
    flows = recording.values[:, 0]
    assert 90.0 in flows[~np.isnan(flows)]
    assert set(recording.values[:, 3][~np.isnan(recording.values[:, 3])]) <= {0.0, 1.0}
    browser_log.assert_clean()


async def test_the_csv_api_answers_a_bad_query_with_400_and_one_line(
    plant: tuple[Gateway, PymodbusServer, str], page: Page, tmp_path: Path
) -> None:
    _, _, base = plant
    await log_in(page, base)
    end = datetime.now(UTC)

    async def get(**query: str | list[str]) -> tuple[int, str]:
        pairs = [
            (k, v)
            for k, values in query.items()
            for v in (values if isinstance(values, list) else [values])
        ]
        response = await page.request.get(f"{base}/api/history?{urlencode(pairs)}")
        return response.status, await response.text()

    status, text = await get(
        format="csv",
        key=["flow=pump1.flow", "pump1.pressure"],
        start=(end - timedelta(minutes=5)).isoformat(),
        end=end.isoformat(),
        step="0.5",
    )
    assert status == 200
    (tmp_path / "api.csv").write_text(text, encoding="utf-8")
    recording = read_recording(tmp_path / "api.csv")
    assert recording.signals == ("flow", "pump1.pressure")
    assert np.nanmax(recording.values[:, 0]) == pytest.approx(90.0)

    status, text = await get(format="csv", key="pump1.flwo")
    assert (status, text) == (
        400,
        "{\"error\": \"key 'pump1.flwo': no history of it; did you mean 'pump1.flow'?\"}",
    )
    status, text = await get(format="csv", key="pump1.flow", start="yesterday")
    assert (status, text) == (
        400,
        '{"error": "start: expected an ISO 8601 time, got \'yesterday\'"}',
    )
    status, _ = await get(format="csv", key="pump1.flow", step="0.001")
    assert status == 400  # a million rows and more over the default hour
