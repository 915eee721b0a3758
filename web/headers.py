"""Security headers on every response the web page sends.

Added from the on_response_prepare signal rather than a middleware: the signal also sees
the 404s and 405s of the router, refusals raised as exceptions, static files and the 500
aiohttp makes of a crash, all of which would pass a middleware by.
"""

from __future__ import annotations

from aiohttp import web

from web.paths import is_static

# Everything comes from the gateway itself (plant networks are offline: no CDN), and no
# inline script runs, so an injected tag has nothing to execute. Inline styles are allowed:
# the chart library (plotly.js) sets them on the elements it draws, and a style can only
# reach the gateway itself, which every other source is limited to.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; "
                           "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
_ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# One year; only sent over TLS, where a browser honours it (RFC 6797 8.1).
_HSTS = {"Strict-Transport-Security": "max-age=31536000"}


def install_security_headers(app: web.Application, *, tls: bool) -> None:
    """Add the security headers (and HSTS when `tls`) to every response of `app`."""
    headers = {**_ALWAYS, **(_HSTS if tls else {})}

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)
        if not is_static(request):
            # Pages and API answers hold session data and CSRF tokens: never cache them.
            response.headers["Cache-Control"] = "no-store"

    app.on_response_prepare.append(add_headers)
