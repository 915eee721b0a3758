"""HTML pages from string.Template files in web/templates; every value is HTML-escaped."""

from __future__ import annotations

import functools
import html
import string
from collections.abc import Mapping
from importlib import resources

from aiohttp import web

_TEMPLATES = resources.files(__package__) / "templates"


def render(
    template: str,
    /,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    markup: Mapping[str, str] | None = None,
    **values: str,
) -> web.Response:
    """The template file `template` filled with `values` (escaped), as text/html.

    `markup` holds fragments of HTML the caller built from escaped values (a menu), put in
    as they are.
    """
    escaped = {key: html.escape(value) for key, value in values.items()}
    text = _template(template).substitute({**escaped, **(markup or {})})
    return web.Response(text=text, status=status, headers=headers, content_type="text/html")


@functools.cache
def _template(name: str) -> string.Template:
    # Read on first use, once per process: a few hundred bytes shipped with the package.
    return string.Template((_TEMPLATES / name).read_text(encoding="utf-8"))
