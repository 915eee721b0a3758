"""Expert labels and alarm verdicts in headless Chromium against the real gateway (issue #12):
a range brushed on an asset's Trends chart with the mouse, labelled, drawn as a band and
kept in the label store; a verdict given on the Alarms page, kept with the alarm's
activation; both listed on the Labels page. The export's shape is trained on in
tests/gateway/page/test_label_desk.py."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from gateway.app import Gateway
from tests.fixtures.browser import BrowserLog
from tests.fixtures.modbus import PymodbusServer
from tests.gateway.test_trends_browser import WAIT_S, log_in
from tests.gateway.test_trends_browser import plant as plant  # noqa: PLC0414 - the fixture

Plant = tuple[Gateway, PymodbusServer, str]


async def brush(page: Page, left: float, right: float) -> None:
    """Drag with the mouse across the chart's main plot area, from `left` to `right` of
    its width."""
    area = await page.locator("#chart .nsewdrag").first.bounding_box()
    assert area is not None
    y = area["y"] + area["height"] / 2
    await page.mouse.move(area["x"] + area["width"] * left, y)
    await page.mouse.down()
    await page.mouse.move(area["x"] + area["width"] * (left + right) / 2, y, steps=5)
    await page.mouse.move(area["x"] + area["width"] * right, y, steps=5)
    await page.mouse.up()


async def test_a_brushed_range_is_labelled_and_drawn_and_an_alarm_judged(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    gateway, _, base = plant
    store = gateway.running.labels.store
    await log_in(page, base)
    await page.goto(base + "/trends?asset=pump1&range=1h")
    chart = page.locator("#chart")
    await expect(chart).to_have_attribute("data-labels", "0", timeout=WAIT_S * 1000)

    await page.get_by_role("button", name="Label a range").click()
    await brush(page, 0.3, 0.7)
    form = page.locator("form.label-form")
    await expect(form).to_be_visible()
    await form.locator('select[name="kind"]').select_option("anomaly")
    await form.get_by_label("Fault code").fill("BRG-OUTER")
    await form.get_by_label("Note").fill("outer race")
    await form.get_by_role("button", name="Save label").click()
    await expect(page.locator("#notice")).to_have_text("Label #1 saved.")
    await expect(chart).to_have_attribute("data-labels", "1", timeout=WAIT_S * 1000)
    await expect(chart.locator(".shapelayer").get_by_text("Anomaly BRG-OUTER")).to_be_visible()
    (label,) = await store.labels(assets=["pump1"])
    assert (label.kind, label.fault_code, label.draft.note, label.user) == (
        "anomaly",
        "BRG-OUTER",
        "outer race",
        "admin",
    )
    # The brushed range: about 40 % of the hour shown.
    assert timedelta(minutes=20) < label.end - label.start < timedelta(minutes=28)

    await page.goto(base + "/alarms")
    row = page.locator('tr[data-alarm="flow_high"]')
    await row.get_by_label("Verdict flow_high").select_option("false")
    await row.locator('input[name="fault_code"]').fill("SENSOR")
    await row.get_by_role("button", name="Give verdict").click()
    await expect(page.locator("#notice")).to_have_text('flow_high: verdict "False alarm" saved.')
    (verdict,) = await store.verdicts(alarms=["flow_high"])
    assert (verdict.verdict, verdict.draft.fault_code, verdict.user) == ("false", "SENSOR", "admin")
    assert verdict.activation.event_id == gateway.running.hub.alarms["flow_high"].last_event.id  # type: ignore[union-attr]

    # Every asset's labels and every alarm's verdicts (an asset's are its model alarms').
    await page.goto(base + "/labels")
    await expect(page.locator('#labels tr[data-label="1"]')).to_contain_text("BRG-OUTER")
    await expect(page.locator("#verdicts")).to_contain_text("False alarm")
    audit = [(e.user, e.action) for e in await gateway.running.audit_log.recent(10)]  # type: ignore[union-attr]
    assert ("admin", "label added") in audit
    assert ("admin", "alarm judged") in audit
    browser_log.assert_clean()
