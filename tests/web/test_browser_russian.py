"""The page in Russian, in headless Chromium against the fake gateway (issue #15): every page
an admin opens shows no English text left but names, units and data; a user's language
choice is kept and the page follows it."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, StartWeb, Web
from tests.web.fake_facade import NOW, FakeFacade, Json
from web.i18n import DOMAIN, LOCALE_DIR
from web.users import Role

# Each page and what shows that its script has drawn from the API.
PAGES = {
    "/": "#summary:has-text('MQTT')",
    "/devices": "#tag-grid table",
    "/byte-order": "#read-form",
    "/trends?key=press-1.force&range=24h": "#chart[data-points]",
    "/models": ".model.card",
    "/alarms": "#alarm-list table",
    "/labels": "#verdicts > *",
    "/maintenance": "#entries > *",
    "/audit": "#app table",
    "/users": "#app table",
    "/tokens": "#app form",
    "/telegram": "#app > *",
    "/assets/pump-1": "#anomaly",
}


class WholeFacade(FakeFacade):
    """The fake gateway with every field the overview and the Telegram page show."""

    def overview(self) -> Json:
        answer = super().overview()
        answer["gateway"].update(
            devices=1, devices_connected=0, mqtt="connected", problems=[],
            sparkplug={"online": False, "births": 2, "stored": 5, "replayed": 3, "queued": 2},
            export={"up": False, "waiting": 4, "rows_sent": 1200})
        for device in answer["devices"]:
            device.update(
                connected=False,
                last_error="timed out",
                round_trip_ms=None,
                poll_count=10,
                error_count=2,
                error_rate=0.2,
            )
        return answer

    def telegram_links(self, user: str | None) -> Json:
        return {
            "configured": True,
            "links": [
                {
                    "telegram_id": 42,
                    "telegram_name": "@olga",
                    "user": "operator",
                    "linked": NOW.isoformat(),
                }
            ],
        }


# Latin words a Russian page may show: names (the product, protocols, formats, the
# services it talks to), units, and the fake gateway's data (its users' names, the demo's
# signals, what the alarms and the audit log say, file and device names). Identifiers with
# digits, dots, underscores or slashes (press-1.force, uint16, /etc/uvelka.toml) are data too.
NAMES = {
    "English",
    "Uvelka",
    "MQTT",
    "CSV",
    "JSON",
    "TOML",
    "API",
    "URL",
    "ONNX",
    "PNG",
    "Telegram",
    "Sparkplug",
    "ClickHouse",
    "Modbus",
    "Bearer",
    "Authorization",
    "ABCD",
    "BADC",
    "CDAB",
    "DCBA",
    "true",
    "onnx",
    "bak",
}
UNITS = {"h", "s", "min", "ms", "kN"}
DATA = {
    "admin",
    "engineer",
    "operator",
    "viewer",
    "holding",
    "input",
    "press",
    "force",
    "pump",
    "flow",
    "tcp",
    "etc",
    "uvelka",
    "toml",
    "model",
    "Force",
    "high",
    "timed",
    "out",
    "olga",
}
ALLOWED = NAMES | UNITS | DATA
# A name such as a recipe's (gradient-boosting-on-buffer-features) is data, not words.
_IDENTIFIER = re.compile(r"[a-z]+(?:-[a-z]+){2,}")
_WORD = re.compile(r"[A-Za-z0-9_./:\\-]*[A-Za-z][A-Za-z0-9_./:\\-]*")


def english_texts() -> list[str]:
    """The fixed parts of every English msgid of the page (placeholders cut out) that a
    Russian page must not show: those of two words or more, or one word of 4+ letters,
    translated into something else."""
    with (LOCALE_DIR / "ru" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalogue = read_po(po, locale="ru")
    found: set[str] = set()
    for message in catalogue:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        for text in ids:
            for part in re.split(r"\{\w+\}", text):
                part = part.strip(" :;,.()–#\n")
                if len(part) >= 4 and re.search(r"[A-Za-z]{3}", part) and part not in forms:
                    found.add(part)
    return sorted(found - ALLOWED, key=len, reverse=True)


ENGLISH = english_texts()
# Everything a person reads: the visible text, the title, what inputs, buttons and links
# say in placeholders, tooltips and labels, the choices of every menu, the chart's text.
# Not what the page marks as written in another language (lang="en": a model file's notes,
# the gateway's reasons, which the API gives in English).
READ = """() => {
  const foreign = (node) => node.closest("[lang]").lang !== "ru";
  const marked = [...document.querySelectorAll("body [lang]")].filter(foreign)
    .map((node) => [node, node.style.display]);
  for (const [node] of marked) node.style.display = "none";
  const texts = [document.title, document.body.innerText];
  for (const [node, display] of marked) node.style.display = display;
  for (const node of document.querySelectorAll("[placeholder], [title], [aria-label]")) {
    for (const name of ["placeholder", "title", "aria-label"]) {
      if (node.getAttribute(name) && !foreign(node)) texts.push(node.getAttribute(name));
    }
  }
  for (const node of document.querySelectorAll("option, svg text")) {
    if (!foreign(node)) texts.push(node.textContent);
  }
  return texts.join("\\n");
}"""


async def log_in(page: Page, served: Web, account: Account) -> None:
    """Log in through the form (whatever its language) and wait for the start page."""
    await page.goto(served.url("/login"))
    await page.locator("#name").fill(account.name)
    await page.locator("#password").fill(account.password)
    await page.locator("button[type=submit]").click()
    await expect(page).to_have_url(served.url("/"))


def english_left(text: str, allowed: frozenset[str] | set[str] = ALLOWED) -> list[str]:
    """The English msgids and the Latin words outside `allowed` found in `text`."""
    # A msgid inside an identifier (pump-1_anomaly) is data, not a text left English.
    left = [
        english
        for english in ENGLISH
        if re.search(rf"(?<![\w.\-/]){re.escape(english)}(?![\w\-/])", text)
    ]
    words = {
        word
        for word in _WORD.findall(text)
        if not re.search(r"[\d_./:\\]", word)
        and not re.fullmatch(_IDENTIFIER, word)
        and word.strip("-") not in allowed
    }
    return left + sorted(words)


def test_the_check_finds_english() -> None:
    # The check itself: English texts of the page and stray words are found, data is not.
    assert english_left("Добавить тег\nApply\nMax registers per read") == [
        "Max registers per read",
        "Apply",
        "Apply",
        "Max",
        "per",
        "read",
        "registers",
    ]
    assert english_left("Удалить press-1.force (uint16, 4 ms), admin") == []
    assert english_left("аварии: disconnected") == ["disconnected"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_is_russian_for_an_admin(
    start_web: StartWeb,
    accounts: dict[Role, Account],
    page: Page,
    browser_log: BrowserLog,
    path: str,
) -> None:
    served = await start_web(facade=WholeFacade(), language="ru")
    await log_in(page, served, accounts[Role.ADMIN])
    await page.goto(served.url(path))
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await expect(page.locator(PAGES[path]).first).to_be_attached()
    text = await page.evaluate(READ)
    left = english_left(text)
    assert not left, f"{path} shows English: {left}\n{text}"
    browser_log.assert_clean()


async def test_the_login_page_is_russian(start_web: StartWeb, page: Page) -> None:
    served = await start_web(language="ru")
    await page.goto(served.url("/login"))
    await page.locator("#name").fill("nobody")
    await page.locator("#password").fill("wrong password")
    await page.locator("button[type=submit]").click()
    await expect(page.get_by_role("alert")).to_have_text("Неверное имя пользователя или пароль.")
    text = await page.evaluate(READ)
    assert english_left(text) == [], text


async def test_a_user_switches_language_and_the_page_follows(
    start_web: StartWeb,
    accounts: dict[Role, Account],
    page: Page,
    browser_log: BrowserLog,
) -> None:
    served = await start_web(facade=FakeFacade(), language="ru")
    operator = accounts[Role.OPERATOR]
    await log_in(page, served, operator)
    await page.goto(served.url("/alarms"))
    await expect(page.get_by_role("button", name="Квитировать").first).to_be_visible()
    await page.get_by_label("Язык").select_option("en")
    # The page is drawn again in English, and stays so on the next page and the next login.
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("button", name="Acknowledge").first).to_be_visible()
    await page.goto(served.url("/"))
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    await expect(page.get_by_label("Language")).to_have_value("en")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("html")).to_have_attribute("lang", "ru")  # the gateway's default
    await log_in(page, served, operator)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    # Another user still reads the gateway's default, Russian.
    await page.get_by_role("button", name="Log out").click()
    await log_in(page, served, accounts[Role.VIEWER])
    await expect(page.get_by_role("heading", name="Обзор", level=1)).to_be_visible()
    browser_log.assert_clean()


async def test_russian_plurals_numbers_and_units(
    start_web: StartWeb,
    accounts: dict[Role, Account],
    page: Page,
    browser_log: BrowserLog,
) -> None:
    served = await start_web(facade=WholeFacade(), language="ru")
    await log_in(page, served, accounts[Role.VIEWER])
    await page.goto(served.url("/alarms"))
    # 2 -> the "few" form (1 авария, 2 аварии, 5 аварий), through Intl.PluralRules.
    await expect(page.locator("#counts")).to_have_text(
        "2 действующие аварии (активных: 1, снятых, но не квитированных: 1); "
        "не квитировано: 2, отложено: 1"
    )
    await page.goto(served.url("/"))
    await expect(page.locator("#devices-shown")).to_have_text("1 устройство")
    await page.goto(served.url("/assets/pump-1"))
    # A decimal comma, and the hour in Russian; the date in Russian words.
    await expect(page.locator("#anomaly")).to_contain_text("28,9 при пороге 3: аномалия")
    await expect(page.locator("#rul .figure")).to_contain_text("около 6 ч: срок ")
    await expect(page.locator("#rul .figure")).to_contain_text("нояб.")
    browser_log.assert_clean()
