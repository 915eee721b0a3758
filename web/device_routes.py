"""Devices and tags: read and change the configuration, import and export its file, the
audit log, and the byte-order helper's live register reads."""

from __future__ import annotations

from aiohttp import web

from web.auth import current_user, requires
from web.device_form import device_tables
from web.facade import NeedsConfirmation, Refused, WebFacade
from web.requests import (
    BadRequest,
    integer_field,
    json_object,
    outcome_json,
    refused,
    text_field,
)
from web.users import Role

MAX_IMPORT_CHARS = 1024 * 1024
MAX_AUDIT_ENTRIES = 1000
MAX_HELPER_REGISTERS = 4 * 4  # enough for a float64 and a short string; keeps reads small


class DeviceRoutes:
    def __init__(self, facade: WebFacade) -> None:
        self._facade = facade

    def routes(self) -> list[web.RouteDef]:
        engineer = requires(Role.ENGINEER)
        return [
            web.get("/api/devices", self.devices),
            web.put("/api/devices", engineer(self.apply)),
            web.get("/api/config", engineer(self.export)),
            web.post("/api/config", engineer(self.import_)),
            web.get("/api/audit", self.audit),
            web.post("/api/byte-order", engineer(self.byte_order)),
        ]

    async def devices(self, request: web.Request) -> web.Response:
        choices = self._facade.tag_choices()
        return web.json_response({
            "devices": self._facade.devices(),
            "file": self._facade.config_file(),
            "choices": {"table": list(choices.tables), "type": list(choices.types),
                        "order": list(choices.orders)},
        })

    async def apply(self, request: web.Request) -> web.Response:
        devices = device_tables(await json_object(request))
        outcome = await self._facade.apply_devices(devices, current_user(request).name)
        return outcome_json(outcome)

    async def export(self, request: web.Request) -> web.Response:
        return web.Response(
            text=self._facade.export_config(), content_type="application/toml",
            headers={"Content-Disposition": 'attachment; filename="uvelka.toml"'},
        )

    async def import_(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        text = text_field(body, "text")
        confirmed = body.get("confirm", False)
        if not isinstance(confirmed, bool):
            raise BadRequest("confirm: expected true or false")
        if len(text) > MAX_IMPORT_CHARS:
            raise BadRequest(f"the file is larger than {MAX_IMPORT_CHARS} characters")
        if _blank(text):
            # It validates (every section has defaults) and would replace the file with
            # nothing while the devices keep running (issue #17).
            raise BadRequest("the imported file holds no configuration (only blank lines "
                             "and comments); nothing was changed")
        try:
            outcome = await self._facade.import_config(
                text, current_user(request).name, confirmed=confirmed)
        except NeedsConfirmation as exc:
            return web.json_response({"error": str(exc), "confirm": exc.dangers}, status=409)
        return outcome_json(outcome)

    async def audit(self, request: web.Request) -> web.Response:
        entries = await self._facade.audit(MAX_AUDIT_ENTRIES)
        return web.json_response([
            {"time": entry.time.isoformat(), "user": entry.user, "action": entry.action,
             "detail": entry.detail}
            for entry in entries
        ])

    async def byte_order(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        device = text_field(body, "device")
        table = text_field(body, "table", default="holding")
        address = integer_field(body, "address", low=0, high=65535)
        count = integer_field(body, "count", low=1, high=MAX_HELPER_REGISTERS, default=4)
        try:
            words, decodings = await self._facade.decode_registers(device, table, address, count)
        except Refused as exc:
            return refused(exc)
        return web.json_response({"words": words, "decodings": decodings})


def _blank(text: str) -> bool:
    """Nothing but blank lines and comments: a TOML document without a single key."""
    lines = text.removeprefix("\ufeff").splitlines()
    return all(not line.strip() or line.lstrip().startswith("#") for line in lines)
