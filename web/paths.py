"""What a request is for: a static asset, a machine endpoint or a page."""

from __future__ import annotations

from aiohttp import web

# Scripts and scrapers read status codes and JSON; a redirect to a login page would hand a
# Prometheus scraper an HTML page with status 200.
_MACHINE_PREFIXES = ("/api/", "/metrics")


def is_static(request: web.Request) -> bool:
    """True for files under /static/ (the assets the login page itself needs)."""
    return isinstance(request.match_info.route.resource, web.StaticResource)


def is_machine(request: web.Request) -> bool:
    """True for endpoints read by programs rather than shown in a browser."""
    return request.path.startswith(_MACHINE_PREFIXES)
