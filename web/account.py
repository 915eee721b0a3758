"""Logging in and out: the login page, logout and /api/me."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from aiohttp import web

from web.auth import current_user, public
from web.csrf import token_of
from web.pages import render
from web.sessions import CookieSessions
from web.throttle import LoginThrottle
from web.users import UserStore

logger = logging.getLogger(__name__)


class Account:
    """The routes that start, show and end a login."""

    def __init__(self, store: UserStore, sessions: CookieSessions, throttle: LoginThrottle):
        self._store = store
        self._sessions = sessions
        self._throttle = throttle

    def routes(self) -> list[web.RouteDef]:
        """/login (GET, POST), /logout (POST) and /api/me."""
        return [
            web.get("/login", self.login_page),
            web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.get("/api/me", self.me),
        ]

    @public
    async def login_page(self, request: web.Request) -> web.Response:
        """The login form, with the CSRF token of an anonymous session."""
        return self._login_form(request)

    @public
    async def login(self, request: web.Request) -> web.Response:
        """Start a session and go to the overview (303), or show the form again with 401,
        or 429 with Retry-After while the name or the address is locked."""
        form = await request.post()
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return self._login_form(request, "Enter a user name and a password.", status=400)
        address = request.remote or "unknown"
        wait_s = self._throttle.retry_after(name, address)
        if wait_s is not None:
            return self._login_form(request, "Too many failed logins: try again later.",
                                    status=429, headers={"Retry-After": str(math.ceil(wait_s))})
        user = await self._store.authenticate(name, password)
        if user is None:
            self._count_failure(name, address)
            return self._login_form(request, "Wrong user name or password.", status=401)
        self._throttle.succeeded(name)
        await self._sessions.start(request, user.name)
        token_of(request)  # a new token with the new session
        logger.info("user %r logged in from %s", user.name, address)
        raise web.HTTPSeeOther("/")

    async def logout(self, request: web.Request) -> web.Response:
        """End the session and go to the login page (303)."""
        name = current_user(request).name
        await self._sessions.end(request)
        logger.info("user %r logged out", name)
        raise web.HTTPSeeOther("/login")

    async def me(self, request: web.Request) -> web.Response:
        """The logged-in user's name and role, and the CSRF token scripts must send."""
        user = current_user(request)
        return web.json_response({"name": user.name, "role": user.role,
                                  "csrf_token": token_of(request)})

    def _login_form(
        self,
        request: web.Request,
        message: str = "",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        return render("login.html", status=status, headers=headers, message=message,
                      csrf_token=token_of(request))

    def _count_failure(self, name: str, address: str) -> None:
        locked = self._throttle.failed(name, address)
        # People type their password into the name field: only a known name is logged.
        who = repr(name) if self._store.get(name) is not None else "an unknown user name"
        level = logging.WARNING if locked else logging.INFO
        logger.log(level, "failed login for %s from %s%s", who, address,
                   "; locked for now" if locked else "")
