"""Trends: the keys with history, and downsampled series over a time range; the charting
library (Plotly's, shipped inside the `plotly` package) served by the gateway itself."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from web.facade import WebFacade
from web.requests import BadRequest, integer_field, time_query

CHART_LIBRARY_PREFIX = "/vendor/plotly"
DEFAULT_RANGE = timedelta(hours=1)
MAX_KEYS = 12
MAX_POINTS = 2000


def chart_library_folder() -> Path:
    """The folder holding plotly.min.js as the plotly package ships it (found without
    importing plotly, which is large and not needed in this process otherwise)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed; the trends page needs it")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


class TrendRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/api/history/keys", self.keys),
            web.get("/api/history", self.history),
            # Static, so public like /static: a library, nothing of the plant's.
            web.static(CHART_LIBRARY_PREFIX, chart_library_folder()),
        ]

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.history_keys())

    async def history(self, request: web.Request) -> web.Response:
        """?key=a&key=b&start=ISO&end=ISO&points=N (the last hour by default)."""
        keys = request.query.getall("key", [])
        if not keys or len(keys) > MAX_KEYS:
            raise BadRequest(f"key: give 1 to {MAX_KEYS} keys")
        end = time_query(request, "end", datetime.now(UTC))
        start = time_query(request, "start", end - DEFAULT_RANGE)
        if start >= end:
            raise BadRequest("start must be before end")
        points = integer_field(request.query, "points", low=2, high=MAX_POINTS, default=500)
        series = await self._facade.history(keys, start, end, points)
        return web.json_response([
            {"key": s.key, "unit": s.unit, "times": [t.isoformat() for t in s.times],
             "mean": list(s.mean), "low": list(s.low), "high": list(s.high)}
            for s in series
        ])
