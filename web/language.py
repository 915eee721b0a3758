"""The language of a request to the page: the user's own choice, else the gateway's default.

Handlers translate with `translations(request)`; the frame hands the page scripts their
catalogue with `script_catalogue(request)` (web.i18n says how texts are marked).
"""

from __future__ import annotations

import asyncio
import functools
import gettext
import json

from aiohttp import web

from web.auth import USER
from web.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, Language, catalogue, script_messages

DEFAULT_LANGUAGE: web.AppKey[Language] = web.AppKey("uvelka_default_language")


async def load_catalogues() -> None:
    """Compile the page's catalogue of every language, and the scripts' JSON, in a thread:
    a few hundred milliseconds of parsing that the first requests would otherwise spend on
    the event loop."""
    await asyncio.to_thread(_load_all)


def _load_all() -> None:
    for language in LANGUAGES:
        catalogue(LOCALE_DIR, DOMAIN, language)
        _script_json(language)


def language_of(request: web.Request) -> Language:
    """The logged-in user's language, or the gateway's default for them and for anonymous
    requests (the login page)."""
    user = request.get(USER)
    chosen = user.language if user is not None else None
    return chosen or default_language(request.app)


def default_language(app: web.Application) -> Language:
    """The gateway's default language ([gateway] language)."""
    return app[DEFAULT_LANGUAGE]


def translations(request: web.Request) -> gettext.NullTranslations:
    """The page's catalogue in the request's language."""
    return catalogue(LOCALE_DIR, DOMAIN, language_of(request))


def script_catalogue(request: web.Request) -> str:
    """The JSON the frame gives the page scripts' `t` and `tn` (web/static/common.js)."""
    return _script_json(language_of(request))


@functools.cache
def _script_json(language: Language) -> str:
    return json.dumps(script_messages(LOCALE_DIR, DOMAIN, language), ensure_ascii=False,
                      separators=(",", ":"))
