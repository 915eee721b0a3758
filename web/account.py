"""Logging in and out: the login page, logout and /api/me."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

from aiohttp import web

from web.auth import current_user, public
from web.csrf import token_of
from web.i18n import N_
from web.language import language_of, translations
from web.pages import render
from web.requests import form_fields
from web.sessions import CookieSessions
from web.throttle import LoginLocked, LoginQueue, LoginQueueFull, LoginThrottle
from web.users import UserStore

logger = logging.getLogger(__name__)


class Account:
    """The routes that start, show and end a login."""

    def __init__(
        self, store: UserStore, sessions: CookieSessions, throttle: LoginThrottle,
        queue: LoginQueue,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._throttle = throttle
        self._queue = queue

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
        429 with Retry-After while the name or the address is locked, or 503 while too
        many logins wait for their password hash."""
        form = await form_fields(request)
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return self._login_form(request, N_("Enter a user name and a password."), status=400)
        address = request.remote or "unknown"
        try:
            attempt = self._throttle.begin(name, address)
        except LoginLocked as locked:
            return self._login_form(
                request, N_("Too many failed logins: try again later."), status=429,
                headers={"Retry-After": str(math.ceil(locked.retry_after_s))})
        try:
            with self._queue.place():
                user = await self._store.authenticate(name, password)
        except LoginQueueFull:
            self._throttle.take_back(attempt)
            return self._login_form(request, N_("The gateway is busy: try again in a moment."),
                                    status=503, headers={"Retry-After": "1"})
        if user is None:
            self._log_failure(name, address)
            return self._login_form(request, N_("Wrong user name or password."), status=401)
        self._throttle.take_back(attempt)
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
        """The logged-in user's name, role, page language (theirs or the gateway's) and
        desktop notifications choice, and the CSRF token scripts must send."""
        user = current_user(request)
        return web.json_response({"name": user.name, "role": user.role,
                                  "language": language_of(request),
                                  "desktop_notifications": user.desktop_notifications,
                                  "csrf_token": token_of(request)})

    def _login_form(
        self,
        request: web.Request,
        message: str = "",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        _ = translations(request).gettext
        return render("login.html", status=status, headers=headers,
                      message=_(message) if message else "", csrf_token=token_of(request),
                      language=language_of(request), log_in_title=_("log in"),
                      heading=_("Uvelka gateway"), user_name=_("User name"),
                      password=_("Password"), log_in=_("Log in"))

    def _log_failure(self, name: str, address: str) -> None:
        locked = self._throttle.retry_after(name, address) is not None
        # People type their password into the name field: only a known name is logged.
        who = repr(name) if self._store.get(name) is not None else "an unknown user name"
        level = logging.WARNING if locked else logging.INFO
        logger.log(level, "failed login for %s from %s%s", who, address,
                   "; locked for now" if locked else "")
