"""Issue #11's page budget in headless Chromium on the real gateway: with 500 devices x 30
tags configured, the overview and an asset's page update live every second while the
browser's main thread is busy less than 20 % of the time.

The figure is Chromium's own (the Performance domain's TaskDuration: every task the main
thread ran, scripts, style, layout and paint alike) over a 10 s window once the page has
drawn; the page's long tasks (PerformanceObserver, tasks over 50 ms) are counted too. The
gateway's side of the budget (< 5 % of a core to serve the page) is bench/web_page.py.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from gateway.app import Gateway
from gateway.config import load_config
from gateway.runtime.poller import PollerOptions
from tests.fixtures.browser import BrowserLog
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.test_web_asset_page import PASSWORD, SHIPPED, SIGNALS, Plant, log_in

logger = logging.getLogger(__name__)

DEVICES, TAGS = 500, 30
START_S = 120.0  # 15,000 OPC UA nodes on a loaded two-core machine
WINDOW_S = 10.0
BUSY_LIMIT = 0.20  # issue #11: the browser's main thread busy < 20 %
MIN_UPDATES = 8  # of 10 expected at 1 Hz in the window


def config_text(pump: PymodbusServer, data_dir: Path, models_dir: Path) -> str:
    tags = "".join(
        f'[[devices.tags]]\nname = "t{t:02d}"\ntable = "holding"\naddress = {t}\ntype = "uint16"\n'
        for t in range(TAGS)
    )
    devices = "".join(
        f'[[devices]]\nname = "d{d:03d}"\nurl = "{pump.url}"\npoll_interval = 1.0\n{tags}\n'
        for d in range(DEVICES)
    )
    inputs = ", ".join(f'{signal} = "d000.t{i:02d}"' for i, signal in enumerate(SIGNALS))
    return f"""\
[gateway]
name = "plant"
data_dir = "{data_dir}"
language = "en"  # the checks below read the page's English texts

[opcua]
endpoint = "{LOOPBACK_ENDPOINT}"
namespace = "urn:uvelka:test"
security = ["None"]
anonymous = true

[analytics]
models_dir = "{models_dir}"

[web]
port = 0

{devices}
[[assets]]
name = "pump1"
anomaly = "pump_anomaly.onnx"
rul = "pump_rul.onnx"
inputs = {{ {inputs} }}
"""


@pytest.fixture
async def plant(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Plant]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name in ("pump_anomaly.onnx", "pump_rul.onnx"):
        shutil.copy(SHIPPED / name, models_dir / name)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, tmp_path / "var", models_dir), encoding="utf-8")
    gateway = Gateway(load_config(config_file), poller_options=PollerOptions(backoff_max_s=1.0))
    task = asyncio.create_task(gateway.serve())
    try:
        await wait_until(lambda: gateway.started.is_set() or task.done(), START_S, "the start")
        await wait_until(lambda: gateway.running.web.port is not None, START_S, "the web page")
        yield Plant(gateway, pump, f"http://127.0.0.1:{gateway.running.web.port}")
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()


# Counts the page's redraws (mutations of `selector`) and its long tasks from now on.
_WATCH = """selector => {
  const load = window.__load = { updates: 0, longTasks: 0, longMs: 0 };
  const all = { childList: true, characterData: true, subtree: true };
  new MutationObserver(() => { load.updates += 1; }).observe(document.querySelector(selector), all);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) { load.longTasks += 1; load.longMs += entry.duration; }
  }).observe({ type: "longtask" });
}"""
# Chromium's Performance domain: seconds spent by the main thread, in all and by kind.
_SPENT = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")
# A redraw is many mutations at once: count the seconds in which any came.
_TICKS = """() => { const seen = window.__load.updates; window.__load.updates = 0; return seen; }"""


async def measure(page: Page, selector: str) -> dict[str, Any]:
    """Main-thread busy share, redraws and long tasks over WINDOW_S of the open page."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    await page.evaluate(_WATCH, selector)

    async def metrics() -> dict[str, float]:
        answer = (await cdp.send("Performance.getMetrics"))["metrics"]
        return {m["name"]: float(m["value"]) for m in answer if m["name"] in _SPENT}

    loop = asyncio.get_running_loop()
    before, started = await metrics(), loop.time()
    seconds_with_redraw = 0
    while loop.time() - started < WINDOW_S:
        await asyncio.sleep(1.0)  # sampling the page once a second, not waiting for a state
        seconds_with_redraw += await page.evaluate(_TICKS) > 0
    after, elapsed = await metrics(), loop.time() - started
    long_tasks = await page.evaluate("window.__load")
    await cdp.detach()
    # Shares of the window: TaskDuration is the whole; the others say where it went.
    spent = {name: round((after[name] - before[name]) / elapsed, 4) for name in _SPENT}
    figures = {
        "busy": spent["TaskDuration"],
        "redraws": seconds_with_redraw,
        "long_tasks": long_tasks["longTasks"],
        "long_share": long_tasks["longMs"] / 1000 / elapsed,
        "spent": spent,
    }
    logger.info("%s: %s", page.url, figures)  # the figures, for pytest -o log_cli=true
    return figures


@pytest.mark.timeout(300)  # the start of 15,000 tags, then two 10 s windows
async def test_the_overview_and_an_asset_page_stay_light_with_500_devices(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    await log_in(page, plant)
    # Fifty devices at a time (web/static/overview.js says why); the last page holds d499.
    shown = page.locator("#devices-shown")
    await expect(shown).to_have_text(
        "Devices 1–50 of 500, not connected or with alarms first", timeout=START_S * 1000
    )
    await expect(page.locator("tr[data-device]")).to_have_count(50)
    overview = await measure(page, "#app")
    assert overview["redraws"] >= MIN_UPDATES, overview
    assert overview["busy"] < BUSY_LIMIT, overview
    assert overview["long_share"] < BUSY_LIMIT, overview
    for _ in range(9):
        await page.get_by_role("button", name="Next").click()
    await expect(page.locator('tr[data-device="d499"]')).to_be_visible()
    await expect(page.get_by_role("button", name="Next")).to_be_disabled()

    await page.goto(plant.url("/assets/pump1"))
    await expect(page.locator("#anomaly")).to_be_visible()
    asset = await measure(page, "#app")
    assert asset["redraws"] >= MIN_UPDATES, asset
    assert asset["busy"] < BUSY_LIMIT, asset
    assert asset["long_share"] < BUSY_LIMIT, asset
    browser_log.assert_clean()
