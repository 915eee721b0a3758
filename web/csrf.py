"""CSRF protection: a random token per session that every state-changing request repeats.

The token lives in the encrypted session cookie; a POST, PUT, PATCH or DELETE must carry
it in the X-CSRF-Token header (scripts) or the csrf_token form field (HTML forms), else
403. SameSite=Strict already keeps other sites' requests from carrying the cookie; the
token also covers browsers that ignore SameSite and sites on the same host name. The
login form has a token too (an anonymous session), against forged logins.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from web.auth import by_token
from web.refusal import refuse
from web.requests import form_fields
from web.sessions import SESSION

logger = logging.getLogger(__name__)

HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"
_SESSION_FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def token_of(request: web.Request) -> str:
    """The CSRF token of the request's session, made now if it has none."""
    session = request[SESSION]
    token = session.get(_SESSION_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_SESSION_FIELD] = token
    return token


@web.middleware
async def csrf_protection(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse (403) a state-changing request that does not repeat its session's token."""
    # A request with an API token (web.auth) carries no cookie-borne authority to forge.
    if request.method in _SAFE_METHODS or by_token(request):
        return await handler(request)
    expected = request[SESSION].get(_SESSION_FIELD)
    presented = request.headers.get(HEADER) or await _form_token(request)
    if not (isinstance(expected, str) and presented is not None
            and hmac.compare_digest(expected.encode(), presented.encode())):
        logger.debug("%s %s refused: missing or wrong CSRF token", request.method, request.path)
        return refuse(request, 403, "missing or wrong CSRF token")
    return await handler(request)


async def _form_token(request: web.Request) -> str | None:
    # Only forms are read here: a JSON or file upload must send the header instead.
    if request.content_type not in _FORM_TYPES:
        return None
    value = (await form_fields(request)).get(FORM_FIELD)
    return value if isinstance(value, str) else None
