"""Trends: the keys with history, downsampled series over a time range or their CSV (issue
#11: the shape `uvelka train` reads), what the page draws beside them (units, limit lines,
alarm events); the charting library (Plotly's, shipped inside the `plotly` package) served
by the gateway itself."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from web.facade import BadQuery, Refused, WebFacade
from web.requests import BadRequest, integer_field, number_field, refused, time_query

CHART_LIBRARY_PREFIX = "/vendor/plotly"
DEFAULT_RANGE = timedelta(hours=1)
MAX_KEYS = 12
MAX_POINTS = 2000
# An export of the raw points is as long as the history holds; with a step it is bounded
# here, since a tiny step over a long range would be millions of empty rows.
MAX_CSV_KEYS = 100
MAX_CSV_ROWS = 1_000_000
MAX_STEP_S = 7 * 86400.0


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
            web.get("/api/trends", self.trends),
            # Static, so public like /static: a library, nothing of the plant's.
            web.static(CHART_LIBRARY_PREFIX, chart_library_folder()),
        ]

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.history_keys())

    async def trends(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.trends())

    async def history(self, request: web.Request) -> web.StreamResponse:
        """?key=a&key=b&start=ISO&end=ISO&points=N (the last hour by default); with
        &format=csv, the CSV `uvelka train` reads (&step=S: one row per S seconds)."""
        keys = request.query.getall("key", [])
        csv = request.query.get("format") == "csv"
        if not keys or len(keys) > (MAX_CSV_KEYS if csv else MAX_KEYS):
            raise BadRequest(f"key: give 1 to {MAX_CSV_KEYS if csv else MAX_KEYS} keys")
        end = time_query(request, "end", datetime.now(UTC))
        start = time_query(request, "start", end - DEFAULT_RANGE)
        if start >= end:
            raise BadRequest("start must be before end")
        if csv:
            return await self._csv(request, keys, start, end)
        points = integer_field(request.query, "points", low=2, high=MAX_POINTS, default=500)
        series = await self._facade.history(keys, start, end, points)
        return web.json_response(
            [
                {
                    "key": s.key,
                    "unit": s.unit,
                    "times": [t.isoformat() for t in s.times],
                    "mean": list(s.mean),
                    "low": list(s.low),
                    "high": list(s.high),
                }
                for s in series
            ]
        )

    async def _csv(
        self, request: web.Request, keys: list[str], start: datetime, end: datetime
    ) -> web.StreamResponse:
        step = None
        if "step" in request.query:
            seconds = number_field(request.query, "step", low=0.001, high=MAX_STEP_S)
            step = timedelta(seconds=seconds)
            if (end - start) / step > MAX_CSV_ROWS:
                raise BadRequest(
                    f"step: {seconds:g} s gives more than {MAX_CSV_ROWS:,} rows "
                    "over this range; give a longer step or a shorter range"
                )
        try:
            pieces = await self._facade.history_csv(keys, start, end, step)
        except BadQuery as exc:
            raise BadRequest(str(exc)) from None
        except Refused as exc:
            return refused(exc)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="history-{start:%Y%m%dT%H%M%SZ}.csv"',
            }
        )
        await response.prepare(request)
        async for text in pieces:
            await response.write(text.encode())
        await response.write_eof()
        return response
