"""Models: what each asset runs, upload of a new .onnx file, activate, roll back; a
candidate in shadow, stopped or discarded (issue #12); the simulated plant's repair of an
asset (the demo's maintenance action)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web

from web.auth import current_user, requires
from web.facade import MAX_MODEL_BYTES, BadQuery, Refused, WebFacade
from web.requests import (
    BadRequest,
    body_limit,
    form_fields,
    json_object,
    refused,
    text_field,
    time_text,
)
from web.users import Role

# The body of an upload: the file and the rest of its form (part headers, a CSRF token).
MAX_UPLOAD_BYTES = MAX_MODEL_BYTES + 64 * 1024


class ModelRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        engineer = requires(Role.ENGINEER)
        base = "/api/models/{asset}/{kind}"
        return [
            web.get("/api/models", self.models),
            web.post(base, engineer(body_limit(MAX_UPLOAD_BYTES)(self.upload))),
            web.post(base + "/activate", engineer(self.activate)),
            web.post(base + "/rollback", engineer(self.roll_back)),
            web.post(base + "/shadow", engineer(self.shadow)),
            web.post(base + "/shadow/stop", engineer(self.stop_shadow)),
            web.post(base + "/discard", engineer(self.discard)),
            web.get("/api/models/{asset}/agreement", self.agreement),
            web.post("/api/assets/{asset}/repair", engineer(self.repair)),
        ]

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(self._facade.models())

    async def upload(self, request: web.Request) -> web.Response:
        """A multipart form with the file in its `model` part."""
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        data = await _uploaded_file(request)
        user = current_user(request).name
        return await _answer("version", self._facade.upload_model(asset, kind, data, user))

    async def activate(self, request: web.Request) -> web.Response:
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        version = text_field(await json_object(request), "version")
        user = current_user(request).name
        return await _answer("status", self._facade.activate_model(asset, kind, version, user))

    async def roll_back(self, request: web.Request) -> web.Response:
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        user = current_user(request).name
        return await _answer("status", self._facade.roll_back_model(asset, kind, user))

    async def shadow(self, request: web.Request) -> web.Response:
        """{"version": V}: run the archived candidate V in shadow (issue #12)."""
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        version = text_field(await json_object(request), "version")
        user = current_user(request).name
        return await _answer("status", self._facade.shadow_model(asset, kind, version, user))

    async def stop_shadow(self, request: web.Request) -> web.Response:
        """{"version": V}: out of shadow, kept as a candidate (to shadow or activate later)."""
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        version = text_field(await json_object(request), "version")
        user = current_user(request).name
        return await _answer("status", self._facade.stop_shadow(asset, kind, version, user))

    async def discard(self, request: web.Request) -> web.Response:
        """{"version": V}: out of shadow, and marked discarded in the archive."""
        asset, kind = request.match_info["asset"], request.match_info["kind"]
        version = text_field(await json_object(request), "version")
        user = current_user(request).name
        return await _answer("status", self._facade.discard_model(asset, kind, version, user))

    async def agreement(self, request: web.Request) -> web.Response:
        """?from=ISO&to=ISO (both optional): the agreement of each model version."""
        query = request.query
        start, end = (
            time_text(key, query[key]) if query.get(key) else None for key in ("from", "to")
        )
        try:
            found = await self._facade.model_agreement(request.match_info["asset"], start, end)
        except BadQuery as exc:
            raise BadRequest(str(exc)) from None
        except Refused as exc:
            return refused(exc)
        return web.json_response(found)

    async def repair(self, request: web.Request) -> web.Response:
        """The simulated plant's repair of an asset's pump (the demo's maintenance action)."""
        user = current_user(request).name
        return await _answer("status", self._facade.repair_asset(request.match_info["asset"], user))


async def _answer(key: str, action: Awaitable[str]) -> web.Response:
    """{key: what the gateway's action gave}, or its refusal."""
    try:
        return web.json_response({key: await action})
    except Refused as exc:
        return refused(exc)


async def _uploaded_file(request: web.Request) -> bytes:
    if request.content_type != "multipart/form-data":
        raise BadRequest("send the file as multipart/form-data")
    # The whole form, as the CSRF check may have read it already for its csrf_token field;
    # aiohttp keeps file parts in a temporary file, not in memory.
    part = (await form_fields(request)).get("model")
    if part is None:
        raise BadRequest("model: no file in the form")
    if not isinstance(part, web.FileField):
        raise BadRequest("model: expected a file part (with a filename), got a text field")
    with part.file:
        data = await asyncio.to_thread(part.file.read, MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise BadRequest(f"the file is larger than {MAX_MODEL_BYTES // 2**20} MiB")
    if not data:
        raise BadRequest("model: the file is empty")
    return data
