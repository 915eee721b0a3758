"""Issue #11's asset page, overview and alarms page on the real gateway, in headless
Chromium: the shipped pump models scoring a simulated pump's registers, a tank level alarm
on the same device."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from drivers.base import Table
from gateway.app import Gateway
from gateway.config import load_config
from tests.fixtures.assets import words
from tests.fixtures.browser import BrowserLog
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from web.i18n import Language

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential
WAIT_S = 20.0
SHIPPED = Path(__file__).parents[2] / "models_onnx"
# The shipped models' inputs (models_onnx/README.md), at a healthy pump's values.
SIGNALS = {
    "vibration_rms": 2.0,
    "vibration_hf": 0.5,
    "bearing_temperature": 55.0,
    "motor_current": 30.0,
    "flow": 50.0,
}
LEVEL = 2 * len(SIGNALS)  # the tank level's register, after the signals' float32s


def config_text(pump: PymodbusServer, data_dir: Path, models_dir: Path) -> str:
    tags = "".join(
        f"""
[[devices.tags]]
name = "{signal}"
table = "holding"
address = {2 * i}
type = "float32"
unit = "{"degC" if signal == "bearing_temperature" else "mm/s"}"
"""
        for i, signal in enumerate(SIGNALS)
    )
    inputs = ", ".join(f'{signal} = "pump1.{signal}"' for signal in SIGNALS)
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

[web]
port = 0

[[devices]]
name = "pump1"
url = "{pump.url}"
poll_interval = 0.05
timeout = 0.5
{tags}
[[devices.tags]]
name = "level"
table = "holding"
address = {LEVEL}
type = "uint16"

[[assets]]
name = "pump1"
anomaly = "pump_anomaly.onnx"
rul = "pump_rul.onnx"
interval = 0.05
alarms = false  # the default alarms would follow whatever the models make of these values
inputs = {{ {inputs} }}

[[alarms]]
name = "level_high"
source = "pump1.level"
condition = "above"
limit = 80.0
severity = 800
"""


@dataclass
class Plant:
    gateway: Gateway
    pump: PymodbusServer
    base_url: str

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture
async def plant(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Plant]:
    async with serving(modbus_server_factory, tmp_path, monkeypatch) as served:
        yield served


@asynccontextmanager
async def serving(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    page_language: Language | None = "en",
) -> AsyncIterator[Plant]:
    """The plant on a running gateway whose page speaks `page_language` (None: the
    configuration's, Russian)."""
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    pump.set(Table.HOLDING, 0, [w for value in SIGNALS.values() for w in words(value)])
    pump.set(Table.HOLDING, LEVEL, [10])
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name in ("pump_anomaly.onnx", "pump_rul.onnx"):
        shutil.copy(SHIPPED / name, models_dir / name)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, tmp_path / "var", models_dir), encoding="utf-8")
    async with running(load_config(config_file), config_file, page_language=page_language) as (
        gateway,
        _,
    ):
        yield Plant(gateway, pump, f"http://127.0.0.1:{gateway.running.web.port}")


async def log_in(page: Page, plant: Plant) -> None:
    await page.goto(plant.url("/login"))
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(plant.url("/"))


def people(value: float) -> str:
    """A number as the page shows it: 3 significant digits, no trailing zeros."""
    return f"{float(f'{value:.3g}'):g}"


async def test_the_asset_page_shows_a_due_date_consistent_with_its_rul(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    await log_in(page, plant)
    await page.locator('tr[data-asset="pump1"]').get_by_role("link", name="pump1").click()
    await expect(page).to_have_url(plant.url("/assets/pump1"))
    figure = page.locator("#rul .figure")
    # The RUL model's window (100 rows at 0.05 s) fills in about 5 s.
    await expect(figure).not_to_have_attribute("data-due", "", timeout=WAIT_S * 1000)
    # One drawing's due date, scored time and RUL, all read before the next push.
    shown = await figure.evaluate(
        "node => [node.textContent, node.dataset.due, node.dataset.time, node.dataset.value,"
        " node.dataset.low, node.dataset.high]"
    )
    text, due_iso, time_iso, value = shown[0], shown[1], shown[2], float(shown[3])
    # The shipped RUL model carries a prediction interval (issue #13), shown beside the value.
    low, high = float(shown[4]), float(shown[5])
    assert low < high
    due, scored = datetime.fromisoformat(due_iso), datetime.fromisoformat(time_iso)
    assert abs((due - scored) - timedelta(hours=max(value, 0.0))) < timedelta(milliseconds=1)
    zone = ZoneInfo(await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone"))
    weekday = await page.evaluate(
        "iso => new Date(iso).toLocaleDateString(undefined, { weekday: 'short' })", due_iso
    )
    assert text == (
        f"about {people(value)} h ({people(low)}–{people(high)} h):"
        f" due {weekday} {due.astimezone(zone):%H:%M}"
    )
    # The threshold is the running model's (the manifest's 3.0), the version its own.
    slot = next(s for s in plant.gateway.running.assets.slots if s.kind == "anomaly")
    assert slot.threshold == 3.0
    await expect(page.locator("#threshold")).to_have_text("3")
    await expect(page.locator("#anomaly .bar")).to_be_visible()
    await expect(page.locator("#app")).to_contain_text(f"ok: {slot.version}")
    flow = page.locator('tr[data-input="pump1.flow"]')
    await expect(flow).to_contain_text("50 mm/s")
    await expect(flow).to_contain_text("Good")
    await expect(page.locator("#trends-link")).to_have_attribute("href", "/trends?asset=pump1")
    browser_log.assert_clean()


async def test_the_overview_counts_a_cleared_unacknowledged_alarm_in_its_header_and_rows(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    hub = plant.gateway.running.hub
    plant.pump.set(Table.HOLDING, LEVEL, [95])
    await wait_until(lambda: hub.alarms["level_high"].active, WAIT_S, "level_high active")
    plant.pump.set(Table.HOLDING, LEVEL, [10])
    await wait_until(lambda: not hub.alarms["level_high"].active, WAIT_S, "level_high cleared")
    await log_in(page, plant)
    # Before issue #11 the header counted active alarms only ("0 active alarms") while the
    # rows listed every alarm not Normal: now both count the standing ones.
    await expect(page.locator("#summary")).to_contain_text(
        "1 standing alarm (0 active, 1 cleared but not acknowledged)"
    )
    await expect(page.locator('tr[data-device="pump1"] td:last-child')).to_have_text("level_high")
    await expect(page.locator('tr[data-asset="pump1"] td:last-child')).to_have_text("")
    await page.goto(plant.url("/alarms"))
    row = page.locator('tr[data-alarm="level_high"]')
    await expect(row.locator(".state")).to_have_text("Cleared, not acknowledged")
    await expect(page.locator("#counts")).to_contain_text("1 standing alarm (")
    await page.get_by_label("Active").check()
    await expect(row).to_have_count(0)
    await page.get_by_label("Active").uncheck()
    link = row.get_by_role("link", name="pump1.level")
    await expect(link).to_have_attribute("href", "/trends?key=pump1.level")
    await link.click()
    # The trends page writes its range into the address once it has started, so the link's
    # own address is seen only if the check runs before the page's script.
    await expect(page).to_have_url(plant.url("/trends?key=pump1.level&range=1h"))
    await expect(page.locator('#chosen li[data-key="pump1.level"]')).to_have_count(1)
    browser_log.assert_clean()
