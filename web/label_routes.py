"""Expert labels and alarm verdicts (issue #12): the Labels page (`/labels`), its API, the
labels' exports (JSON, and the CSV `uvelka train anomaly --labels` reads), and verdicts on
alarm activations. Engineers label; operators and engineers give verdicts; everyone who
may log in reads both. The gateway audits every change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from web.auth import current_user, requires
from web.facade import BadQuery, Json, LabelFields, Refused, VerdictFields, WebFacade
from web.i18n import N_
from web.layout import page
from web.requests import BadRequest, integer_field, json_object, refused, text_field, time_text
from web.users import Role

LABELS_PAGE = page(N_("Labels"), "labels")
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000


class LabelRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        engineer = requires(Role.ENGINEER)
        operator = requires(Role.OPERATOR)
        return [
            web.get("/labels", requires(Role.VIEWER)(LABELS_PAGE)),
            web.get("/api/labels", self.labels),
            web.post("/api/labels", engineer(self.add)),
            web.put("/api/labels/{id}", engineer(self.change)),
            web.delete("/api/labels/{id}", engineer(self.delete)),
            web.get("/api/verdicts", self.verdicts),
            web.put("/api/verdicts/{event_id}", operator(self.judge)),
            web.post("/api/alarms/{name}/verdict", operator(self.judge_latest)),
        ]

    async def labels(self, request: web.Request) -> web.StreamResponse:
        """?asset=A (repeatable) &start=ISO&end=ISO&limit=N; &format=json downloads them,
        &format=csv (one asset) the labelled history `uvelka train anomaly --labels` reads."""
        query = request.query
        start, end = (
            time_text(key, query[key]) if query.get(key) else None for key in ("start", "end")
        )
        if start is not None and end is not None and start >= end:
            raise BadRequest("end: not after start")
        assets = query.getall("asset", [])
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        if query.get("format") == "csv":
            if len(assets) != 1:
                raise BadRequest("asset: give one asset: a training file is one asset's")
            return await self._csv(request, assets[0], start, end, f"labels-{assets[0]}-{stamp}")
        limit = integer_field(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        try:
            found = await self._facade.labels(assets, start, end, limit)
        except Refused as exc:
            return refused(exc)
        if query.get("format") == "json":
            return web.Response(
                text=json.dumps(found["labels"], ensure_ascii=False, indent=1),
                content_type="application/json",
                headers={"Content-Disposition": f'attachment; filename="labels-{stamp}.json"'},
            )
        return web.json_response(found)

    async def add(self, request: web.Request) -> web.Response:
        fields = _label_fields(await json_object(request))
        user = current_user(request).name
        return await _answer(self._facade.add_label(fields, user), status=201)

    async def change(self, request: web.Request) -> web.Response:
        number = _number(request)
        fields = _label_fields(await json_object(request))
        return await _answer(self._facade.change_label(number, fields, current_user(request).name))

    async def delete(self, request: web.Request) -> web.Response:
        try:
            await self._facade.delete_label(_number(request), current_user(request).name)
        except Refused as exc:
            return refused(exc)
        return web.json_response({"done": True})

    async def verdicts(self, request: web.Request) -> web.Response:
        """?asset=A&alarm=N (each repeatable) &limit=N."""
        query = request.query
        limit = integer_field(query, "limit", low=1, high=MAX_LIMIT, default=DEFAULT_LIMIT)
        try:
            found = await self._facade.verdicts(
                query.getall("asset", []), query.getall("alarm", []), limit
            )
        except Refused as exc:
            return refused(exc)
        return web.json_response(found)

    async def judge(self, request: web.Request) -> web.Response:
        fields = _verdict_fields(await json_object(request))
        return await _answer(
            self._facade.judge_alarm(
                request.match_info["event_id"], fields, current_user(request).name
            )
        )

    async def judge_latest(self, request: web.Request) -> web.Response:
        fields = _verdict_fields(await json_object(request))
        return await _answer(
            self._facade.judge_latest(
                request.match_info["name"], fields, current_user(request).name
            )
        )

    async def _csv(
        self,
        request: web.Request,
        asset: str,
        start: datetime | None,
        end: datetime | None,
        name: str,
    ) -> web.StreamResponse:
        try:
            pieces: AsyncIterator[str] = await self._facade.labels_csv(asset, start, end)
        except BadQuery as exc:
            raise BadRequest(str(exc)) from None
        except Refused as exc:
            return refused(exc)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{name}.csv"',
            }
        )
        await response.prepare(request)
        async for text in pieces:
            await response.write(text.encode())
        await response.write_eof()
        return response


async def _answer(action: Awaitable[Json], status: int = 200) -> web.Response:
    try:
        answer = await action
    except BadQuery as exc:
        raise BadRequest(str(exc)) from None
    except Refused as exc:
        return refused(exc)
    return web.json_response(answer, status=status)


def _number(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(f"id: expected a label number, got {text[:20]!r}")
    return int(text)


def _label_fields(body: Mapping[str, Any]) -> LabelFields:
    return LabelFields(
        asset=text_field(body, "asset"),
        start=time_text("start", text_field(body, "start")),
        end=time_text("end", text_field(body, "end")),
        kind=text_field(body, "kind"),
        fault_code=text_field(body, "fault_code", default="").strip(),
        note=text_field(body, "note", default="").strip(),
    )


def _verdict_fields(body: Mapping[str, Any]) -> VerdictFields:
    return VerdictFields(
        verdict=text_field(body, "verdict"),
        fault_code=text_field(body, "fault_code", default="").strip(),
        note=text_field(body, "note", default="").strip(),
    )
