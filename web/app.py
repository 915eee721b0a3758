"""The web page's application: sessions, login, CSRF, roles, security headers and routes."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web

from web.account import Account
from web.alarm_routes import AlarmRoutes
from web.asset_routes import AssetRoutes
from web.auth import authentication
from web.csrf import csrf_protection
from web.device_routes import DeviceRoutes
from web.facade import WebFacade
from web.headers import install_security_headers
from web.label_routes import LabelRoutes
from web.language import DEFAULT_LANGUAGE, load_catalogues
from web.layout import page_routes
from web.live import Live
from web.maintenance_routes import MaintenanceRoutes
from web.model_routes import ModelRoutes
from web.monitoring import monitoring_routes
from web.notification_routes import NotificationRoutes
from web.pki_routes import PkiRoutes
from web.private_files import keep_private
from web.requests import ANONYMOUS_MAX_BYTES, body_limits
from web.sessions import KEY_FILE, CookieSessions, load_key
from web.settings import WebSettings
from web.telegram_routes import TelegramRoutes
from web.throttle import LoginQueue, LoginThrottle
from web.token_routes import TokenRoutes
from web.tokens import FILE_NAME as TOKENS_FILE
from web.tokens import TokenStore
from web.training_routes import TrainingRoutes
from web.trend_routes import TrendRoutes
from web.user_routes import UserRoutes
from web.users import FILE_NAME as USERS_FILE
from web.users import UserStore

USERS = web.AppKey("uvelka_users", UserStore)
_FIRST_ADMIN_PASSWORD = web.AppKey("uvelka_first_admin_password", list[str])
STATIC_FOLDER = Path(__file__).parent / "static"


async def create_app(
    facade: WebFacade,
    settings: WebSettings,
    *,
    environ: Mapping[str, str] = os.environ,
    wall_clock: Callable[[], float] = time.time,
    monotonic_clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    """The application, with its users and session key loaded from (or, at first start,
    created in) settings.folder; app[USERS] is the user store.

    After a first start without UVELKA_ADMIN_PASSWORD in `environ`, the generated admin
    password waits in `take_first_admin_password(app)`. `wall_clock` times sessions and
    user changes, `monotonic_clock` the login throttle.
    """
    secrets = [settings.folder / name for name in (USERS_FILE, KEY_FILE, TOKENS_FILE)]
    await asyncio.to_thread(keep_private, secrets)
    store, generated = await UserStore.open(settings.folder, environ=environ, clock=wall_clock)
    tokens = await TokenStore.open(settings.folder, clock=wall_clock)
    key = await asyncio.to_thread(load_key, settings.folder)
    await load_catalogues()
    sessions = CookieSessions(key, max_age_s=settings.session_max_age_s, secure=settings.tls,
                              clock=wall_clock, key_file=settings.folder / KEY_FILE)
    # Outermost first: the session is loaded before anyone asks who is logged in, and the
    # login is known before the CSRF check, so an anonymous POST gets 401, not 403.
    # Body limits come first: nothing may read a body before its size is checked.
    app = web.Application(
        middlewares=[body_limits, sessions.middleware, authentication(store, sessions, tokens),
                     csrf_protection],
        client_max_size=ANONYMOUS_MAX_BYTES,  # body_limits sets each route's own
    )
    install_security_headers(app, tls=settings.tls)
    account = Account(store, sessions, LoginThrottle(clock=monotonic_clock), LoginQueue())
    app.router.add_routes(account.routes())
    app.router.add_routes(monitoring_routes(facade, metrics_open=settings.metrics_open))
    app.router.add_routes(page_routes())
    Live(facade).install(app)
    NotificationRoutes(facade).install(app)
    for routes in (DeviceRoutes(facade), TrendRoutes(facade), ModelRoutes(facade),
                   AlarmRoutes(facade), AssetRoutes(facade), MaintenanceRoutes(facade),
                   LabelRoutes(facade), TrainingRoutes(facade), UserRoutes(store, facade),
                   TokenRoutes(tokens, facade), TelegramRoutes(facade)):
        app.router.add_routes(routes.routes())
    app.router.add_routes(PkiRoutes(facade).routes())
    app.router.add_static("/static", STATIC_FOLDER)
    app[USERS] = store
    app[DEFAULT_LANGUAGE] = settings.language
    app[_FIRST_ADMIN_PASSWORD] = [generated] if generated is not None else []
    return app


def take_first_admin_password(app: web.Application) -> str | None:
    """The admin password generated at first start, once: every later call returns None.

    The caller shows it to whoever installs the gateway; it is kept nowhere else in clear.
    """
    waiting = app[_FIRST_ADMIN_PASSWORD]
    return waiting.pop() if waiting else None
