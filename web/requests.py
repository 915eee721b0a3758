"""Reading what a browser sent: bodies bounded before they are read, JSON bodies and query
values refused with a clear 400.

Body limits (issue #17: bodies were read before they were refused, and 16 parallel 60 MB
anonymous POSTs took the process to 1.6 GB): every route has a limit, ANONYMOUS_MAX_BYTES
for public routes (the login form), MAX_JSON_BYTES for the others unless the handler is
marked with `body_limit`. `body_limits`, the outermost middleware, refuses an announced
Content-Length over it at once, and hands the handler a request whose reads (read, json,
post, also of multipart forms) stop with 413 once that many bytes have streamed in, so a
chunked body is bounded too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from web.auth import is_public, mark_of, marked
from web.facade import EditOutcome, NotFound, Refused
from web.refusal import refuse

# The login form holds a name, a password and a token: a few hundred bytes.
ANONYMOUS_MAX_BYTES = 8 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
_BODY_LIMIT = "uvelka_body_limit"
# No setting or measurement needs more digits (a uint64 has 20; Python's own limit is 4300).
MAX_JSON_DIGITS = 100
# Times a query may name: older than the gateway's history, or past any datetime arithmetic
# near the end of the calendar, are mistakes.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
_SHOWN_CHARS = 40

H = TypeVar("H", bound=Handler)


def body_limit(max_bytes: int) -> Callable[[H], H]:
    """Mark a handler as accepting bodies of up to `max_bytes` instead of its default."""

    def mark(handler: H) -> H:
        return marked(handler, _BODY_LIMIT, max_bytes)

    return mark


@web.middleware
async def body_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (413) a body larger than its route accepts, before reading it."""
    limit = mark_of(request, _BODY_LIMIT, None)
    if not isinstance(limit, int):
        limit = ANONYMOUS_MAX_BYTES if is_public(request) else MAX_JSON_BYTES
    if request.content_length is not None and request.content_length > limit:
        return _too_large(request, limit)
    try:
        return await handler(request.clone(client_max_size=limit))
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request, limit)


def _too_large(request: web.Request, limit: int) -> web.Response:
    response = refuse(request, 413, f"the body is larger than the {limit} bytes this "
                                    "request accepts")
    # The rest of the body is not wanted: close rather than read it to reuse the connection.
    response.force_close()
    return response


class BadRequest(web.HTTPBadRequest):
    """A 400 whose body says what was wrong, as JSON."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=json.dumps({"error": reason}), content_type="application/json")


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    if request.content_type != "application/json":
        raise BadRequest("send application/json")
    body = parse_json(await request.read())
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def parse_json(raw: bytes) -> Any:
    """A JSON document as the rest of the gateway can take it, else BadRequest.

    Refused (issue #17, each was a 500 with a traceback): nesting deeper than the parser
    recurses, integers of more than MAX_JSON_DIGITS digits, numbers beyond a float's range
    and NaN or Infinity (not JSON), and text that is not UTF-8, lone surrogates ("\\ud800")
    included, which would fail later when written to a file or a database.
    """
    try:
        document = json.loads(raw.decode("utf-8"), parse_int=_json_integer,
                              parse_float=_json_float, parse_constant=_json_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 text: {exc}") from None
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    except ValueError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    _refuse_surrogates(document)
    return document


def _json_integer(text: str) -> int:
    if len(text) > MAX_JSON_DIGITS + text.startswith("-"):
        raise ValueError(f"a number with more than {MAX_JSON_DIGITS} digits ({_shown(text)})")
    return int(text)


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"a number out of range ({_shown(text)})")
    return number


def _json_constant(text: str) -> float:
    raise ValueError(f"{text} is not a number JSON allows")


def _refuse_surrogates(document: Any) -> None:
    # A loop, not a recursion: the document may be as deep as the parser allowed.
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadRequest(
                        f"text that is not UTF-8 (a lone surrogate) in {_shown(item)}") from None
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


async def form_fields(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The request's form fields (URL-encoded or multipart), BadRequest when malformed."""
    try:
        return await request.post()
    except (ValueError, LookupError) as exc:  # LookupError: an unknown charset
        raise BadRequest(f"malformed form: {exc}") from None


def text_field(body: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise BadRequest(f"{key}: expected text")
    return value


def number_field(
    body: Mapping[str, Any], key: str, *, low: float, high: float, default: float | None = None
) -> float:
    value = body.get(key, default)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise BadRequest(f"{key}: expected a number, got {_shown(value)}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{key}: expected a number")
    if not low <= value <= high:
        raise BadRequest(f"{key}: expected a number from {low:g} to {high:g}, got {value:g}")
    return float(value)


def integer_field(
    body: Mapping[str, Any], key: str, *, low: int, high: int, default: int | None = None
) -> int:
    value = number_field(body, key, low=low, high=high, default=default)
    if not value.is_integer():
        raise BadRequest(f"{key}: expected a whole number, got {value:g}")
    return int(value)


def time_query(request: web.Request, key: str, default: datetime) -> datetime:
    """An ISO 8601 time from the query string, from EARLIEST to before LATEST; naive times
    are taken as UTC."""
    text = request.query.get(key)
    if not text:
        return default
    return time_text(key, text)


def time_text(key: str, text: str) -> datetime:
    """An ISO 8601 time given as `key` (a query value or a body's field), from EARLIEST to
    before LATEST; naive times are taken as UTC. BadRequest otherwise."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{key}: expected an ISO 8601 time, got {_shown(text)}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    # Issue #17: a time near year 1 or 9999 made the arithmetic on it (a default start an
    # hour earlier, a conversion to UTC) overflow. Comparing aware times cannot overflow.
    if not EARLIEST <= at < LATEST:
        raise BadRequest(f"{key}: expected a time from {EARLIEST:%Y-%m-%d} to before "
                         f"{LATEST:%Y-%m-%d}, got {_shown(text)}")
    return at


def _shown(value: object) -> str:
    """`value` quoted for an error message, cut short: the message echoes hostile input."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def refused(exc: Refused) -> web.Response:
    """409 with the gateway's reason (404 for something it does not have)."""
    status = 404 if isinstance(exc, NotFound) else 409
    return web.json_response({"error": str(exc)}, status=status)


def outcome_json(outcome: EditOutcome) -> web.Response:
    """A configuration change's outcome: 200 when applied, 422 with the problems if not."""
    body = {
        "applied": outcome.applied,
        "problems": [
            {"path": p.path, "message": p.message, "severity": p.severity}
            for p in outcome.problems
        ],
        "changes": list(outcome.changes),
        "saved": outcome.saved,
        "restart_needed": list(outcome.restart_needed),
    }
    return web.json_response(body, status=200 if outcome.applied else 422)
