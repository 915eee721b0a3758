"""The devices grid on the real gateway, in headless Chromium (issue #11): 100 tags edited
with one bulk action and seen live over OPC UA, consecutive tags added by each type's
width, CSV exported and imported (a bad row named by its line, nothing changed), the
validator's messages in their cells as the engineer edits, and a 1,000-tag device drawn
(how long it takes is printed, not asserted: docs/web.md has the figures)."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asyncua import Client
from playwright.async_api import Dialog, Page, expect

from drivers.base import Table
from gateway.app import Gateway
from gateway.config import load_config
from tests.fixtures.browser import BrowserLog
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.opcua import LOOPBACK_ENDPOINT

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential
WAIT_S = 15.0
BIG_WAIT_S = 60.0  # a 1,000-tag device's first render and apply, on a loaded 2-core machine


def config_text(rack: PymodbusServer, data_dir: Path, tags: int) -> str:
    tables = "".join(
        f'\n[[devices.tags]]\nname = "t{i}"\ntable = "holding"\naddress = {i}\ntype = "uint16"\n'
        for i in range(tags)
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

[web]
port = 0

[[devices]]
name = "rack"  # a rack of identical transmitters
url = "{rack.url}"
poll_interval = 0.2
timeout = 0.5
{tables}"""


@dataclass
class Rack:
    gateway: Gateway
    client: Client
    config_file: Path
    base_url: str
    server: PymodbusServer

    def url(self, path: str) -> str:
        return self.base_url + path

    async def value(self, key: str, expected: float) -> None:
        node = node_of(self.gateway, self.client)(key)
        await wait_value(node, lambda dv: dv.Value.Value == expected, f"{key} == {expected}")


RackFactory = Callable[[int], Awaitable[Rack]]


@pytest.fixture
async def start_rack(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RackFactory]:
    """Start the gateway with one device of n uint16 tags t0..t(n-1) at holding 0..n-1,
    whose registers hold 1..n."""
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    stack: list[AsyncIterator[None]] = []

    async def start(tags: int) -> Rack:
        server = await modbus_server_factory()
        server.set(Table.HOLDING, 0, list(range(1, tags + 1)))
        config_file = tmp_path / "uvelka.toml"
        config_file.write_text(config_text(server, tmp_path / "var", tags), encoding="utf-8")
        context = running(load_config(config_file), config_file)
        gateway, client = await context.__aenter__()
        stack.append(context)  # type: ignore[arg-type]
        return Rack(gateway, client, config_file,
                    f"http://127.0.0.1:{gateway.running.web.port}", server)

    yield start
    for context in reversed(stack):
        await context.__aexit__(None, None, None)  # type: ignore[attr-defined]


async def devices_page(page: Page, rack: Rack) -> None:
    await page.goto(rack.url("/login"))
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(rack.url("/"))
    await page.goto(rack.url("/devices"))
    await expect(page.locator("#tag-grid tbody tr").first).to_be_visible()


def cell(page: Page, row: int, key: str) -> str:
    return f'[data-path="devices[0].tags[{row}].{key}"]'


async def test_100_tags_scaled_with_one_bulk_action_are_live_over_opcua(
    start_rack: RackFactory, page: Page, browser_log: BrowserLog
) -> None:
    rack = await start_rack(100)
    await rack.value("rack.t99", 100)
    await devices_page(page, rack)
    await page.locator("#choose-shown").check()
    await expect(page.locator("#chosen-count")).to_have_text("100 selected")
    await page.get_by_label("scale for the selected tags").fill("0.5")
    await page.get_by_role("button", name="Set scale").click()
    await expect(page.locator(cell(page, 99, "scale"))).to_have_value("0.5")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#notice")).to_contain_text("Applied: device rack:")
    for i in range(100):
        await rack.value(f"rack.t{i}", (i + 1) * 0.5)
    saved = load_config(rack.config_file).device("rack")
    assert {tag.scale for tag in saved.tags} == {0.5}
    assert "# a rack of identical transmitters" in rack.config_file.read_text(encoding="utf-8")
    browser_log.assert_clean()


async def test_consecutive_tags_are_added_by_their_types_width_and_run_live(
    start_rack: RackFactory, page: Page, browser_log: BrowserLog
) -> None:
    rack = await start_rack(10)
    words = [w for v in (1.5, 2.5, 3.5) for w in struct.unpack(">HH", struct.pack(">f", v))]
    rack.server.set(Table.HOLDING, 10, words)
    await devices_page(page, rack)
    await page.get_by_label("how many").fill("3")
    await page.get_by_label("name prefix").fill("flow")
    await page.get_by_label("type of the new tags").select_option("float32")
    await page.get_by_role("button", name="Add consecutive").click()
    await expect(page.locator("#chosen-count")).to_have_text("3 selected")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#notice")).to_contain_text("Applied: device rack:")
    for i, value in enumerate((1.5, 2.5, 3.5)):
        await rack.value(f"rack.flow{i + 1}", value)
    tags = load_config(rack.config_file).device("rack").tags
    assert [(t.name, t.address, t.type) for t in tags[10:]] == [
        ("flow1", 10, "float32"), ("flow2", 12, "float32"), ("flow3", 14, "float32")]
    browser_log.assert_clean()


async def test_the_validators_message_shows_in_its_cell_before_anything_is_applied(
    start_rack: RackFactory, page: Page, browser_log: BrowserLog
) -> None:
    rack = await start_rack(10)
    before = rack.config_file.read_text(encoding="utf-8")
    await devices_page(page, rack)
    await page.locator(cell(page, 5, "name")).fill("t4")
    beside = page.locator("label.invalid", has=page.locator(cell(page, 5, "name")))
    await expect(beside.get_by_role("alert")).to_have_text(
        "name 't4' is used twice; first at devices[0].tags[4]")
    await page.get_by_label("Only rows with problems").check()
    await expect(page.locator("#tag-grid tbody tr")).to_have_count(1)
    await page.locator(cell(page, 5, "name")).fill("t5")
    await expect(page.locator("#tag-grid [role=alert]")).to_have_count(0)
    assert rack.config_file.read_text(encoding="utf-8") == before
    browser_log.assert_clean()


async def test_tags_exported_as_csv_come_back_a_bad_row_named_by_its_line(
    start_rack: RackFactory, page: Page, browser_log: BrowserLog, tmp_path: Path
) -> None:
    rack = await start_rack(20)
    before = rack.config_file.read_text(encoding="utf-8")
    await devices_page(page, rack)
    async with page.expect_download() as download:
        await page.get_by_role("link", name="Export tags (CSV)").click()
    saved_as = await (await download.value).path()
    exported = await asyncio.to_thread(Path(saved_as).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["name"], r["address"], r["type"]) for r in rows[:2]] == [
        ("t0", "0", "uint16"), ("t1", "1", "uint16")]
    assert len(rows) == 20

    def written(change: Callable[[int, dict[str, str]], None]) -> Path:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for i, row in enumerate(rows):
            changed = dict(row)
            change(i, changed)
            writer.writerow(changed)
        path = tmp_path / "rack-tags.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        return path

    dialogs: list[str] = []

    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    bad = written(lambda i, row: row.update(type="flaot32") if i == 3 else None)
    await page.locator("#import-csv").set_input_files(bad)
    await expect(page.locator("#import-problems")).to_contain_text(
        "line 5: type: unknown type 'flaot32'")
    await expect(page.locator("#notice")).to_contain_text(
        "Not imported: rack-tags.csv has 1 problem")
    await expect(page.locator(cell(page, 3, "type"))).to_have_value("uint16")
    assert dialogs == []

    good = written(lambda i, row: row.update(scale="2", unit="kPa"))
    await page.locator("#import-csv").set_input_files(good)
    await expect(page.locator("#notice")).to_contain_text("Imported 20 tags from rack-tags.csv")
    assert dialogs == ["Replace the 20 tags of rack with the 20 tags of rack-tags.csv? Nothing "
                       "is applied until you press Apply."]
    assert rack.config_file.read_text(encoding="utf-8") == before
    await page.get_by_role("button", name="Apply").click()
    await expect(page.locator("#notice")).to_contain_text("Applied: device rack:")
    await rack.value("rack.t19", 40)
    await expect(page.locator('[data-value-of="rack.t19"]')).to_have_text("40 kPa",
                                                                          timeout=WAIT_S * 1000)
    browser_log.assert_clean()


@pytest.mark.timeout(180)  # a 1,000-tag gateway takes ~10 s to start on a loaded machine
async def test_a_device_of_1000_tags_is_drawn_a_page_at_a_time_sorted_and_filtered(
    start_rack: RackFactory, page: Page, browser_log: BrowserLog
) -> None:
    rack = await start_rack(1000)
    page.set_default_timeout(BIG_WAIT_S * 1000)
    await devices_page(page, rack)
    grid = page.locator("#tag-grid")
    position = page.locator("#grid-position")
    await expect(position).to_have_text("Page 1 of 10: rows 1–100 of 1000 tags")
    first_ms = await grid.get_attribute("data-render-ms")
    await page.get_by_label("Rows per page").select_option("250")
    pages_ms = [await grid.get_attribute("data-render-ms")]
    for number in (2, 3, 4):
        await page.get_by_role("button", name="Next ›").click()
        await expect(position).to_contain_text(f"Page {number} of 4")
        pages_ms.append(await grid.get_attribute("data-render-ms"))
    await expect(page.locator("#tag-grid tbody tr").last).to_have_attribute("data-tag", "t999")
    sort = page.locator('button[data-sort="address"]')
    await sort.click()
    await expect(sort).to_have_text("Address ▲")
    await sort.click()
    await expect(page.locator("#tag-grid tbody tr").first).to_have_attribute("data-tag", "t999")
    await page.get_by_label("filter tags").fill("t99")
    await expect(position).to_have_text("Page 1 of 1: rows 1–11 of 11 of 1000 tags shown")
    filtered_ms = await grid.get_attribute("data-render-ms")
    # Printed for docs/web.md (pytest -s); not asserted: the machine is shared.
    print(f"devices grid of 1000 tags: first 100 rows {first_ms} ms; 4 pages of 250 rows "
          f"{', '.join(str(ms) for ms in pages_ms)} ms; 11 rows filtered {filtered_ms} ms")
    browser_log.assert_clean()
