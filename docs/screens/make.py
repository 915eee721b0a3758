"""Screenshots of every page of the web UI for docs/web.md (issue #11), taken from the demo.

Run from the repository root (a minute or two; Chromium is Debian's, as in the tests):

    .venv/bin/python -m docs.screens.make              # writes docs/screens/<page>.png
    .venv/bin/python -m docs.screens.make --only trends --out /tmp/screens

It runs what `uvelka demo` runs, in this process, on free ports and in a temporary data
folder: the simulated plant with the demo's scenarios, and the gateway on the demo's
configuration at `--speedup` (default the demo's own, 60: pump2's bad bearing raises its
anomaly alarm a minute or two after the start, with the history watching it come; faster,
the gateway's start takes the bearing's first minutes). Once that alarm is active it adds a
maintenance entry, a label and a verdict through the page's own API (as an engineer would
on the page), logs in as the demo's admin in headless Chromium (light, 1400x900), opens
each page of SHOTS, waits until the page has drawn its live data (each shot's `ready`
condition, evaluated in the page) and writes the PNG. A page that cannot be shot is named
on stderr and the exit code is 1; the other pages are still shot.

tests/web/test_screens.py fails when a page of the app has no entry in SHOTS, or an entry
has no PNG or no place in docs/web.md: a new page is shot by running this again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from playwright.async_api import Page, ViewportSize, async_playwright

from drivers.modbus.simulator import PlantSimulator, SimulatorOptions
from drivers.plant.demo import DEMO_SCENARIOS
from gateway.app import Gateway
from gateway.cli.demo import DEMO_ADMIN_PASSWORD, DEMO_SPEEDUP, demo_config
from gateway.config import GatewayConfig, WebSection
from gateway.config.telegram import TelegramSection
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, LAUNCH_TIMEOUT_S
from tests.fixtures.modbus import wait_until
from web.users import ADMIN_ENV_VAR, FIRST_ADMIN

logger = logging.getLogger("docs.screens")

OUT = Path(__file__).parent
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
START_S = 120.0  # the first start builds asyncua's node cache: 5-20 s on a loaded machine
SCENE_S = 240.0  # pump2's anomaly alarm: ~40 simulated minutes, then the alarm's on-delay
READY_S = 30.0  # a page's live data, pushed every second once the page is open
ASSET = "pump2"  # the demo's bad bearing: alarms, markers and a label to show
ALARM = f"{ASSET}_anomaly"


@dataclass(frozen=True)
class Shot:
    """One page: docs/screens/<name>.png of `path`, taken once the JS expression `ready` is
    true in the page; `prepare` acts on the page first (a form to fill, a button)."""

    name: str
    path: str
    ready: str
    caption: str
    prepare: Callable[[Page], Awaitable[None]] | None = None


async def _read_a_register_pair(page: Page) -> None:
    await page.locator("#tag").select_option(index=4)  # pump1's flow: a float32 in CDAB
    await page.locator("#read").click()


async def _get_a_link_code(page: Page) -> None:
    await page.get_by_role("button", name="Get a link code").click()


def _rows(selector: str, at_least: int = 1) -> str:
    return f"document.querySelectorAll({selector!r}).length >= {at_least}"


# Every page of the app (tests/web/test_screens.py checks none is missing), in the order
# docs/web.md shows them. "{trend_range}" is filled with the gateway's run so far.
SHOTS: tuple[Shot, ...] = (
    Shot(
        "login",
        "/login",
        "document.querySelector('input[type=password]') !== null",
        "Login: user name and password; the session lasts 8 hours.",
    ),
    Shot(
        "overview",
        "/",
        "[...document.querySelectorAll('tr[data-asset]')].length === 3 && "
        "[...document.querySelectorAll('tr[data-asset]')].every("
        "(row) => /\\d/.test(row.cells[1].textContent))",
        "Overview: the gateway's health, the devices (those needing attention first) and "
        "each asset's anomaly score against its threshold and remaining useful life.",
    ),
    Shot(
        "asset",
        f"/assets/{ASSET}",
        "/\\d/.test(document.querySelector('#anomaly')?.textContent || '') && "
        "/due/.test(document.querySelector('#rul')?.textContent || '') && "
        + _rows("tr[data-input]", 5),
        "Asset page: the anomaly score against its threshold with its trend, the RUL and "
        "its due date, the alarms, the inputs' live values, maintenance and labels.",
    ),
    Shot(
        "trends",
        f"/trends?key={ASSET}.vibration_hf&key={ASSET}.AnomalyScore&key={ASSET}.Anomaly"
        "&{trend_range}",
        "Number(document.querySelector('#chart')?.dataset.markers || 0) >= 1 && "
        "Number(document.querySelector('#chart')?.dataset.lines || 0) >= 1",
        "Trends: one panel per unit, the model's threshold as a line, the alarm's "
        "activation as a marker, the Anomaly flag as a state band.",
    ),
    Shot(
        "alarms",
        "/alarms",
        _rows("#alarm-list tr[data-alarm]", 6)
        + " && document.querySelector('#counts').textContent !== ''",
        "Alarms: states in words, with severity, filters and the alarm's trend one click "
        "away; the counts say what they count.",
    ),
    Shot(
        "devices",
        "/devices",
        _rows("#tag-grid tbody tr") + " && [...document.querySelectorAll("
        "'#tag-grid [data-value-of]')].some((value) => /\\d/.test(value.textContent))",
        "Devices: a device's tags in an editable grid with their live values, bulk "
        "actions and CSV import and export.",
    ),
    Shot(
        "byte-order",
        "/byte-order",
        _rows("#decodings td[data-type]"),
        "Byte-order helper: registers read live, decoded in every type and byte order.",
        prepare=_read_a_register_pair,
    ),
    Shot(
        "models",
        "/models",
        _rows("section.model.card", 6),
        "Models: per asset, the active model as a card and its archived versions.",
    ),
    Shot(
        "maintenance",
        "/maintenance",
        _rows("#entries tbody tr"),
        "Maintenance log: what was done to which asset, filtered and exported as CSV.",
    ),
    Shot(
        "labels",
        "/labels",
        _rows("#labels tbody tr") + " && " + _rows("#verdicts tbody tr"),
        "Labels: the engineers' labelled ranges and their verdicts on alarms.",
    ),
    Shot("audit", "/audit", _rows("#app tbody tr"), "Audit log: who changed what, and when."),
    Shot(
        "users", "/users", _rows("tr[data-user]"), "Users: accounts and their roles (admins only)."
    ),
    Shot(
        "pki",
        "/pki",
        "document.querySelector('#own-certificate') !== null",
        "OPC UA certificates: the gateway's own, the clients' refused and trusted ones "
        "(admins only; the demo serves None, so it has no certificate).",
    ),
    Shot(
        "tokens",
        "/tokens",
        "document.querySelector('#app form') !== null",
        "API tokens: what a script sends instead of a password, acting with its user's role.",
    ),
    Shot(
        "telegram",
        "/telegram",
        "document.querySelector('#link-code') !== null",
        "Telegram: a one-time code to send to the gateway's bot, which links a Telegram "
        "account to its user; the links.",
        _get_a_link_code,
    ),
)


def screen_config(ports: Sequence[int], data_dir: Path, speedup: float) -> GatewayConfig:
    """The demo's configuration at `speedup`, polling `ports`, on free local ports."""
    demo = demo_config(speedup)
    devices = [
        device.model_copy(update={"url": f"modbus-tcp://127.0.0.1:{port}"})
        for device, port in zip(demo.devices, ports, strict=True)
    ]
    return demo.model_copy(
        update={
            # English, as docs/web.md reads (the demo's default is Russian, issue #15).
            "gateway": demo.gateway.model_copy(update={"data_dir": data_dir, "language": "en"}),
            "opcua": demo.opcua.model_copy(update={"endpoint": "opc.tcp://127.0.0.1:0/uvelka"}),
            "web": WebSection(host="127.0.0.1", port=0),
            # The Telegram page's codes; no token and nobody at the port: nothing is sent.
            "telegram": TelegramSection(api_url="http://127.0.0.1:9"),
            "devices": devices,
        }
    )


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    try:
        await wait_until(condition, timeout_s, what)
    except AssertionError as exc:
        raise SystemExit(f"screens: {exc}") from None


async def seed(page: Page, alarm_active_since: datetime) -> None:
    """A maintenance entry, a label and a verdict on pump2, through the page's API."""
    now = datetime.now(UTC)
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "/api/maintenance",
            {
                "asset": ASSET,
                "kind": "inspection",
                "started": (now - timedelta(minutes=2)).isoformat(),
                "finished": now.isoformat(),
                "parts": "",
                "note": "high-frequency vibration confirmed on site",
            },
        ),
        (
            "/api/labels",
            {
                "asset": ASSET,
                "kind": "anomaly",
                "fault_code": "BRG",
                "start": alarm_active_since.isoformat(),
                "end": now.isoformat(),
                "note": "outer race defect",
            },
        ),
        (
            f"/api/alarms/{ALARM}/verdict",
            {"verdict": "confirmed", "fault_code": "BRG", "note": "seen at the inspection"},
        ),
    ]
    for url, body in calls:
        status = await page.evaluate(
            """async ([url, body]) => {
                 const token = document.querySelector('meta[name="csrf-token"]').content;
                 const answer = await fetch(url, { method: "POST", body: JSON.stringify(body),
                   headers: { "Content-Type": "application/json", "X-CSRF-Token": token } });
                 return answer.status;
               }""",
            [url, body],
        )
        if status >= 300:
            raise SystemExit(f"screens: POST {url} answered {status}")


async def shoot(
    base: str, shots: Sequence[Shot], out: Path, started: datetime, alarm_active_since: datetime
) -> list[str]:
    """Each shot's PNG in `out`; returns the names of the pages that could not be shot."""
    failed: list[str] = []
    trend_range = urlencode(
        {
            "start": started.isoformat(),
            "end": (datetime.now(UTC) + timedelta(seconds=15)).isoformat(),
        }
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_S * 1000,
        )
        try:
            context = await browser.new_context(
                viewport=VIEWPORT,
                color_scheme="light",
            )
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for shot in (s for s in shots if s.name == "login"):
                failed += await _one(page, base, shot, out, trend_range, errors)
            await _log_in(page, base)
            await seed(page, alarm_active_since)
            for shot in (s for s in shots if s.name != "login"):
                failed += await _one(page, base, shot, out, trend_range, errors)
        finally:
            await browser.close()
    return failed


async def _log_in(page: Page, base: str) -> None:
    await page.goto(base + "/login")
    await page.get_by_label("User name").fill(FIRST_ADMIN)
    await page.get_by_label("Password").fill(DEMO_ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(base + "/")


async def _drawn(page: Page, ready: str) -> None:
    # Polled from here with page.evaluate: Playwright's wait_for_function polls inside the
    # page with eval, which the page's Content-Security-Policy (script-src 'self') refuses.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_S
    while not await page.evaluate(ready):
        if loop.time() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.2)  # the page redraws every second


async def _one(
    page: Page, base: str, shot: Shot, out: Path, trend_range: str, errors: list[str]
) -> list[str]:
    errors.clear()
    try:
        await page.goto(base + shot.path.replace("{trend_range}", trend_range))
        if shot.prepare is not None:
            await shot.prepare(page)
        await _drawn(page, shot.ready)
        await page.screenshot(path=out / f"{shot.name}.png")
    except Exception as exc:  # noqa: BLE001 - any failure names the page and moves on
        why = str(exc).splitlines()[0] if str(exc) else f"not drawn within {READY_S:g} s"
        logger.error(
            "%s (%s): not shot: %s%s",
            shot.name,
            shot.path,
            why,
            f"; the page reported: {'; '.join(errors)}" if errors else "",
        )
        return [shot.name]
    if errors:
        logger.warning("%s: shot, but the page reported: %s", shot.name, "; ".join(errors))
    logger.info("%s: %s", shot.name, out / f"{shot.name}.png")
    return []


async def run(args: argparse.Namespace) -> int:
    shots = [s for s in SHOTS if not args.only or s.name in args.only]
    if unknown := set(args.only or ()) - {s.name for s in SHOTS}:
        raise SystemExit(f"screens: --only: no page {', '.join(sorted(unknown))}")
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ[ADMIN_ENV_VAR] = DEMO_ADMIN_PASSWORD  # the first start's admin, as the demo's
    options = SimulatorOptions(
        devices=3, base_port=0, seed=0, speedup=args.speedup, scenarios=DEMO_SCENARIOS
    )
    with tempfile.TemporaryDirectory(prefix="uvelka-screens-") as folder:
        async with PlantSimulator(options) as plant:
            gateway = Gateway(screen_config(plant.ports, Path(folder) / "var", args.speedup))
            serving = asyncio.create_task(gateway.serve())
            try:
                await wait_for(gateway.started.is_set, START_S, "gateway start")
                started = datetime.now(UTC)  # the trends begin with the gateway's first rows
                web = gateway.running.web
                if web is None:
                    raise SystemExit("screens: the gateway serves no web page")
                alarm = gateway.running.hub.alarms[ALARM]
                await wait_for(lambda: web.port is not None, START_S, "web page")
                base = f"http://127.0.0.1:{web.port}"
                logger.info("gateway on %s; waiting for %s", base, ALARM)
                await wait_for(lambda: alarm.active, SCENE_S, f"{ALARM} alarm")
                failed = await shoot(
                    base, shots, args.out, started, datetime.now(UTC) - timedelta(seconds=5)
                )
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
    if failed:
        logger.error("not shot: %s", ", ".join(failed))
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m docs.screens.make", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs (%(default)s)")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="PAGE",
        help=f"only these pages: {', '.join(s.name for s in SHOTS)}",
    )
    parser.add_argument(
        "--speedup",
        type=float,
        default=DEMO_SPEEDUP,
        help="simulated seconds per second (%(default)g)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for noisy in ("asyncua", "pymodbus", "gateway", "drivers", "analytics", "web", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
