"""Training from history (issue #12): an engineer queues a job that trains an asset's model
from the gateway's own history in a separate process, watches its stages on the Models
page, and may cancel it; the result is a candidate version in the model archive."""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from web.auth import current_user, requires
from web.facade import BadQuery, Json, Refused, TrainingFields, WebFacade
from web.requests import BadRequest, json_object, refused, text_field, time_text
from web.users import Role


class TrainingRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        engineer = requires(Role.ENGINEER)
        return [
            web.get("/api/training/jobs", self.jobs),
            web.get("/api/training/assets", self.assets),
            web.post("/api/training/jobs", engineer(self.submit)),
            web.post("/api/training/jobs/{id}/cancel", engineer(self.cancel)),
        ]

    async def jobs(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.training_jobs())

    async def assets(self, request: web.Request) -> web.Response:
        try:
            return web.json_response(await self._facade.training_assets())
        except Refused as exc:
            return refused(exc)

    async def submit(self, request: web.Request) -> web.Response:
        """{"asset", "kind", "from"?, "to"? (ISO 8601), "supervised"?: bool}."""
        body = await json_object(request)
        start, end = (
            time_text(key, text_field(body, key)) if body.get(key) else None
            for key in ("from", "to")
        )
        supervised = body.get("supervised", False)
        if not isinstance(supervised, bool):
            raise BadRequest("supervised: expected true or false")
        fields = TrainingFields(
            asset=text_field(body, "asset"),
            kind=text_field(body, "kind", default="anomaly"),
            start=start,
            end=end,
            supervised=supervised,
        )
        user = current_user(request).name
        return await _answer(self._facade.submit_training(fields, user), status=201)

    async def cancel(self, request: web.Request) -> web.Response:
        text = request.match_info["id"]
        if not text.isdigit() or len(text) > 18:
            raise BadRequest(f"id: expected a job number, got {text[:20]!r}")
        user = current_user(request).name
        return await _answer(self._facade.cancel_training(int(text), user))


async def _answer(action: Awaitable[Json], status: int = 200) -> web.Response:
    """The job, 400 for a request the gateway cannot take, 404/409 for its refusals."""
    try:
        job = await action
    except BadQuery as exc:
        raise BadRequest(str(exc)) from None
    except Refused as exc:
        return refused(exc)
    return web.json_response(job, status=status)
