"""Who is asking, and may they: refuses anonymous requests and users below a route's role.

Every route needs a login unless its handler is marked `public`; `requires(role)` raises
the bar. Files under /static/ are public (the login page needs its style sheet). The user
comes from the session, but their role from the user store on every request, and a
session issued before the user's last change (password, role) no longer counts.

A script sends an API token instead (`Authorization: Bearer <token>`, web.tokens; issue
#14): the request acts as the token's user, with that user's role now. A request that
presents a token is judged by it alone: a wrong or revoked one is 401 even beside a valid
session cookie. Such a request needs no CSRF token (`by_token`): a browser never adds
the header by itself, so another site cannot make it send one.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from web.paths import is_machine, is_static
from web.refusal import refuse
from web.sessions import CookieSessions
from web.tokens import TokenStore
from web.users import Role, User, UserStore

logger = logging.getLogger(__name__)

USER = web.RequestKey("uvelka_user", User)
_BY_TOKEN = web.RequestKey("uvelka_by_token", bool)
_BEARER = "Bearer "
_REQUIRED_ROLE = "uvelka_required_role"  # attribute on a marked handler; None = public

H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])


def public(handler: H) -> H:
    """Mark a handler as open to anonymous requests."""
    return _marked(handler, None)


def requires(role: Role) -> Callable[[H], H]:
    """Mark a handler as refused (403) to users below `role`; unmarked ones need a viewer."""
    return functools.partial(_marked, required=role)


def current_user(request: web.Request) -> User:
    """The logged-in user of a request that passed `authentication` on a non-public route."""
    return request[USER]


def by_token(request: web.Request) -> bool:
    """True when the request presented an API token (whether or not it was valid)."""
    return request.get(_BY_TOKEN) is True


def authentication(store: UserStore, sessions: CookieSessions, tokens: TokenStore) -> Middleware:
    """The middleware: 401 (programs) or a redirect to /login (pages) without a login, 403
    below the route's role."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        presented = _presented_token(request)
        request[_BY_TOKEN] = presented is not None
        user = (_logged_in(request, store, sessions) if presented is None
                else tokens.user_of(presented, store.get))
        if user is not None:
            request[USER] = user
        required = _required_role(request)
        if required is None:
            return await handler(request)
        if user is None:
            if presented is not None:
                return refuse(request, 401, "unknown or revoked API token")
            if is_machine(request):
                return refuse(request, 401, "log in first")
            raise web.HTTPSeeOther("/login")
        if not user.role.at_least(required):
            logger.debug("%s %s refused to %r (%s): needs %s", request.method, request.path,
                         user.name, user.role, required)
            return refuse(request, 403, f"this needs the {required} role")
        return await handler(request)

    return middleware


def is_public(request: web.Request) -> bool:
    """True when the request's route is open to anonymous requests."""
    return _required_role(request) is None


def marked(handler: H, key: str, value: object) -> H:
    """`handler` wrapped with the mark `key` = `value`, read back by `mark_of`; marks on
    the handler it wraps are kept (functools.wraps copies them)."""
    # A wrapper, not an attribute on `handler` itself: one handler may be public in one
    # app and guarded in another (/metrics follows a setting), and a bound method takes no
    # attributes.
    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> web.StreamResponse:
        return await handler(*args, **kwargs)

    setattr(wrapper, key, value)
    return cast(H, wrapper)


def mark_of(request: web.Request, key: str, default: object) -> object:
    """The mark `key` of the handler the request is routed to, or `default`."""
    return getattr(request.match_info.handler, key, default)


def _marked(handler: H, required: Role | None) -> H:
    return marked(handler, _REQUIRED_ROLE, required)


def _required_role(request: web.Request) -> Role | None:
    if is_static(request):
        return None
    # Unmatched paths (404, 405) land here too, so they tell nothing to anonymous askers.
    return cast(Role | None, mark_of(request, _REQUIRED_ROLE, Role.VIEWER))


def _presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None or not header.startswith(_BEARER):
        return None
    return header.removeprefix(_BEARER).strip()


def _logged_in(request: web.Request, store: UserStore, sessions: CookieSessions) -> User | None:
    login = sessions.login(request)
    if login is None:
        return None
    user = store.get(login.name)
    # Compared as datetimes: `changed` was rounded to microseconds from the same clock.
    if user is None or datetime.fromtimestamp(login.issued_at, UTC) < user.changed:
        return None
    return user
