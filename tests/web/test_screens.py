"""The screenshots of docs/web.md (issue #11) cover every page: each page the app serves and
each link of its navigation has an entry in docs/screens/make.py's SHOTS, each entry is a
page the app serves, and each has its 1400x900 PNG and its place in docs/web.md. No
screenshot is taken here: `python -m docs.screens.make` takes them."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from docs.screens.make import OUT, SHOTS, VIEWPORT
from tests.web.conftest import Account, StartWeb
from web.users import Role

DOCS = Path(__file__).parents[2] / "docs" / "web.md"
_NAV = re.compile(r"<nav>(.*?)</nav>", re.DOTALL)
_HREF = re.compile(r'href="([^"]+)"')
# GET routes that are not pages a person looks at: the API, files the pages load, probes.
NOT_PAGES = ("/api/", "/static", "/vendor/", "/healthz", "/metrics")


def shot_paths() -> set[str]:
    return {shot.path.split("?")[0] for shot in SHOTS}


def page_patterns(routes: list[str]) -> list[re.Pattern[str]]:
    return [
        re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(route)) + "$") for route in routes
    ]


async def test_every_page_and_navigation_link_has_a_screenshot_entry(
    start_web: StartWeb,
    accounts: dict[Role, Account],
) -> None:
    served = await start_web()
    await served.login(accounts[Role.ADMIN])
    async with served.client.get(served.url("/")) as response:
        assert response.status == 200
        nav = _NAV.search(await response.text())
    assert nav is not None
    links = set(_HREF.findall(nav.group(1)))
    assert links, "the page's navigation has no links"
    routes = sorted(
        {
            resource.canonical
            for resource in served.app.router.resources()
            if any(route.method == "GET" for route in resource)
            and not resource.canonical.startswith(NOT_PAGES)
        }
    )

    shots = shot_paths()
    assert sorted(links - shots) == [], "navigation links without a shot in docs/screens/make.py"
    unshot = [
        route
        for route, pattern in zip(routes, page_patterns(routes), strict=True)
        if not any(pattern.match(path) for path in shots)
    ]
    assert unshot == [], "pages without a shot in docs/screens/make.py"
    # And the other way: every shot is a page the app serves, to the admin the script is.
    for shot in SHOTS:
        async with served.client.get(served.url(shot.path), allow_redirects=False) as response:
            assert response.status == 200, (shot.name, response.status)
            assert response.content_type == "text/html", shot.name


def test_every_shot_has_its_png_and_its_place_in_docs_web_md() -> None:
    names = [shot.name for shot in SHOTS]
    assert len(set(names)) == len(names), "two shots write the same PNG"
    docs = DOCS.read_text(encoding="utf-8")
    for shot in SHOTS:
        png = OUT / f"{shot.name}.png"
        assert png.is_file(), f"{png} is missing: run python -m docs.screens.make"
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", png
        assert struct.unpack(">II", header[16:24]) == (VIEWPORT["width"], VIEWPORT["height"]), png
        assert f"](screens/{shot.name}.png)" in docs, f"docs/web.md does not show {png.name}"
