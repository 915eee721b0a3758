"""Refusals in the form the asker reads: JSON for programs, plain text for pages."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from web.paths import is_machine


def refuse(
    request: web.Request, status: int, reason: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response with `status` saying `reason`: {"error": reason} for /api/ and /metrics."""
    if is_machine(request):
        return web.json_response({"error": reason}, status=status, headers=headers)
    return web.Response(status=status, text=reason, headers=headers)
