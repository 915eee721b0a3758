"""The pages: one HTML frame (navigation, user, CSRF token) around each page's script.

Each page is drawn by its own module script in web/static from the JSON API, so the
HTML carries no data of its own and no inline script (the CSP forbids it).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.auth import current_user, requires
from web.csrf import token_of
from web.i18n import LANGUAGE_NAMES, N_
from web.language import language_of, script_catalogue, translations
from web.pages import render
from web.users import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(title: str, script: str) -> Handler:
    """A handler showing the frame titled `title` that runs /static/`script`.js."""

    async def show(request: web.Request) -> web.Response:
        user = current_user(request)
        language = language_of(request)
        _ = translations(request).gettext
        return render(
            "page.html", title=_(title), script=script, name=user.name, role=user.role,
            # The bell's opt-in, kept with the user (web/static/bell.js).
            desktop_notifications="on" if user.desktop_notifications else "off",
            role_name=_(ROLE_NAMES[user.role]), csrf_token=token_of(request),
            language=language, messages=script_catalogue(request),
            language_label=_("Language"), log_out=_("Log out"),
            markup={"navigation": _navigation(_), "language_options": _languages(language)})

    return show


# The links of every page's header: (path, label, the role that sees it; common.js hides
# the others).
NAVIGATION = (
    ("/", N_("Overview"), Role.VIEWER),
    ("/devices", N_("Devices"), Role.VIEWER),
    ("/byte-order", N_("Byte order"), Role.ENGINEER),
    ("/trends", N_("Trends"), Role.VIEWER),
    ("/models", N_("Models"), Role.VIEWER),
    ("/alarms", N_("Alarms"), Role.VIEWER),
    ("/labels", N_("Labels"), Role.VIEWER),
    ("/maintenance", N_("Maintenance"), Role.VIEWER),
    ("/audit", N_("Audit log"), Role.VIEWER),
    ("/users", N_("Users"), Role.ADMIN),
    ("/pki", N_("Certificates"), Role.ADMIN),
    ("/tokens", N_("API tokens"), Role.VIEWER),
    ("/telegram", N_("Telegram"), Role.VIEWER),
)
ROLE_NAMES = {Role.VIEWER: N_("viewer"), Role.OPERATOR: N_("operator"),
              Role.ENGINEER: N_("engineer"), Role.ADMIN: N_("admin")}


def _navigation(translate: Callable[[str], str]) -> str:
    links = []
    for path, label, role in NAVIGATION:
        needs = "" if role is Role.VIEWER else f' data-needs="{role}"'
        links.append(f'<a href="{path}"{needs}>{html.escape(translate(label))}</a>')
    return "\n".join(links)


def _languages(chosen: str) -> str:
    return "".join(
        f'<option value="{language}"{" selected" if language == chosen else ""}>'
        f"{html.escape(name)}</option>" for language, name in LANGUAGE_NAMES.items())


# path: (title, script, role needed to open it); titles are translated when shown
PAGES = {
    "/": (N_("Overview"), "overview", Role.VIEWER),
    "/devices": (N_("Devices and tags"), "devices", Role.VIEWER),
    "/byte-order": (N_("Byte-order helper"), "byteorder", Role.ENGINEER),
    "/trends": (N_("Trends"), "trends", Role.VIEWER),
    "/models": (N_("Models"), "models", Role.VIEWER),
    "/alarms": (N_("Alarms"), "alarms", Role.VIEWER),
    "/audit": (N_("Audit log"), "audit", Role.VIEWER),
    "/users": (N_("Users"), "users", Role.ADMIN),
    "/pki": (N_("OPC UA certificates"), "pki", Role.ADMIN),
    "/tokens": (N_("API tokens"), "tokens", Role.VIEWER),
    "/telegram": (N_("Telegram"), "telegram", Role.VIEWER),
}


def page_routes() -> list[web.RouteDef]:
    """Every page's frame; what a page may change is decided again by its API routes."""
    return [web.get(path, requires(role)(page(title, script)))
            for path, (title, script, role) in PAGES.items()]
