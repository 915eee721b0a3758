"""The Models page on the real gateway, in headless Chromium (issue #11): the running model
as a card with its training and evaluation facts, archived versions as a table, and no
folder of the machine that trained it, neither on the page nor in the API it reads."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.gateway.test_web_browser import Plant, log_in, plant  # noqa: F401 - the fixture


async def test_the_running_model_is_a_card_and_no_training_folder_shows(
    plant: Plant, page: Page, browser_log: BrowserLog, tmp_path: Path  # noqa: F811
) -> None:
    slot = next(s for s in plant.gateway.running.assets.slots if s.kind == "anomaly")
    assert slot.model is not None
    # The fixture trained the model on tmp_path/recordings/a.csv: the manifest says so.
    assert str(tmp_path) in slot.model.manifest.data.source
    await log_in(page, plant)
    await page.goto(plant.url("/models"))
    card = page.locator('section.card[data-asset="pump1"][data-kind="anomaly"]')
    facts = card.locator("dl.facts")
    await expect(facts).to_contain_text(slot.model.version)
    await expect(facts).to_contain_text("a.csv: rows 1-400 (commissioning)")
    await expect(facts).to_contain_text("flow, pressure")
    await expect(facts).to_contain_text("Threshold3")
    await expect(card).to_contain_text("No archived versions yet")

    await card.locator('input[type="file"]').set_input_files(plant.upload)
    await card.get_by_role("button", name="Upload").click()
    await expect(card.locator("tbody tr")).to_have_count(1)
    await expect(card.locator("tbody tr td").nth(2)).to_have_text("uploaded")
    await expect(card.locator("tbody tr td").nth(3)).to_have_text("admin")

    assert str(tmp_path) not in (await page.locator("#app").inner_text())
    answer = await page.request.get(plant.url("/api/models"))
    assert answer.ok
    text = await answer.text()
    assert str(tmp_path) not in text
    (entry,) = json.loads(text)
    assert entry["manifest"]["training_data"].startswith("a.csv: rows 1-400")
    assert entry["manifest"]["training_fingerprint"] == slot.model.manifest.data.sha256
    browser_log.assert_clean()
