"""Devices and tags: read, check and change the configuration, import and export its file
and a device's tags as CSV, the audit log, and the byte-order helper's live register reads.

Two engineers editing at once must not drop each other's changes (issue #17): the
configuration has a revision, sent as the ETag of what reads it, and every change names
the revision it was made against in If-Match. A change against another revision is
refused (409, with the current one); a change without If-Match too (428), since a
program that never sends it would drop others' changes every time. `If-Match: *` says
"whatever the revision" on purpose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

from aiohttp import web

from web.auth import current_user, requires
from web.device_form import device_tables
from web.facade import EditOutcome, NeedsConfirmation, NotFound, Refused, Stale, WebFacade
from web.requests import (
    BadRequest,
    integer_field,
    json_object,
    outcome_json,
    refused,
    text_field,
)
from web.tag_csv import parse_tags_csv, tags_csv
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
            web.post("/api/devices/check", engineer(self.check)),
            web.get("/api/devices/{device}/tags.csv", self.export_tags),
            web.post("/api/tags/csv", engineer(self.read_tags)),
            web.get("/api/config", engineer(self.export)),
            web.post("/api/config", engineer(self.import_)),
            web.get("/api/audit", self.audit),
            web.post("/api/byte-order", engineer(self.byte_order)),
        ]

    async def devices(self, request: web.Request) -> web.Response:
        choices = self._facade.tag_choices()
        revision = self._facade.config_revision()
        response = web.json_response({
            "devices": self._facade.devices(),
            "file": self._facade.config_file(),
            "choices": {"table": list(choices.tables), "type": list(choices.types),
                        "order": list(choices.orders), "words": dict(choices.words)},
            "revision": _etag(revision),  # for a script, which cannot read the ETag of a GET
        })
        response.etag = revision
        return response

    async def apply(self, request: web.Request) -> web.Response:
        devices = device_tables(await json_object(request))
        if_match = _if_match(request)
        try:
            outcome = await self._facade.apply_devices(devices, current_user(request).name,
                                                       if_match)
        except Stale as exc:
            return _stale(exc)
        return _outcome(outcome)

    async def check(self, request: web.Request) -> web.Response:
        """The problems of a list of devices, by the validator applying uses: the page shows
        them as the engineer edits, before anything is applied (issue #11)."""
        devices = device_tables(await json_object(request))
        problems = await self._facade.check_devices(devices)
        return web.json_response({"problems": [
            {"path": p.path, "message": p.message, "severity": p.severity} for p in problems
        ]})

    async def export_tags(self, request: web.Request) -> web.Response:
        name = request.match_info["device"]
        device = next((d for d in self._facade.devices() if d.get("name") == name), None)
        if device is None:
            return refused(NotFound(f"no device {name!r}"))
        filename = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        return web.Response(
            text=tags_csv(device.get("tags", [])), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}-tags.csv"'},
        )

    async def read_tags(self, request: web.Request) -> web.Response:
        """A CSV file's tags, or the problems of its lines; nothing is applied: the page
        checks the tags with the device's others and puts them in its grid."""
        text = text_field(await json_object(request), "text")
        if len(text) > MAX_IMPORT_CHARS:
            raise BadRequest(f"the file is larger than {MAX_IMPORT_CHARS} characters")
        parsed = parse_tags_csv(text)
        return web.json_response({
            "tags": parsed.tags, "lines": parsed.lines,
            "problems": [{"line": p.line, "message": p.message} for p in parsed.problems],
        })

    async def export(self, request: web.Request) -> web.Response:
        revision = self._facade.config_revision()
        response = web.Response(
            text=self._facade.export_config(), content_type="application/toml",
            headers={"Content-Disposition": 'attachment; filename="uvelka.toml"'},
        )
        response.etag = revision
        return response

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
        if_match = _if_match(request)
        try:
            outcome = await self._facade.import_config(
                text, current_user(request).name, if_match, confirmed=confirmed)
        except Stale as exc:
            return _stale(exc)
        except NeedsConfirmation as exc:
            return web.json_response({"error": str(exc), "confirm": exc.dangers}, status=409)
        return _outcome(outcome)

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


def _if_match(request: web.Request) -> Collection[str] | None:
    """The revisions a change was made against (If-Match); None for `*` (any)."""
    tags = request.if_match
    if tags is None:
        raise web.HTTPPreconditionRequired(
            text=json.dumps({"error": "send If-Match with the configuration's revision: the "
                                      "ETag of GET /api/devices or GET /api/config"}),
            content_type="application/json")
    if not tags:
        raise BadRequest('If-Match: expected the quoted revision from an ETag, like "1f0c…", '
                         "or *")
    if any(tag.value == "*" for tag in tags):
        return None
    # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag matches no revision.
    return frozenset(tag.value for tag in tags if not tag.is_weak)


def _etag(revision: str) -> str:
    return f'"{revision}"'


def _stale(exc: Stale) -> web.Response:
    """409 with the current revision, in the body for the page and as the ETag."""
    response = web.json_response({"error": str(exc), "revision": _etag(exc.current)},
                                 status=409)
    response.etag = exc.current
    return response


def _outcome(outcome: EditOutcome) -> web.Response:
    response = outcome_json(outcome)
    if outcome.revision:
        response.etag = outcome.revision
    return response
