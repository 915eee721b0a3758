"""The web page's start-up in the running gateway: its folder under data_dir, the aiohttp
app over the facade, the admin password generated at its first start, and its users file
written again after a full disk (issue #17)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from gateway.config.model import WebSection
from gateway.config.web_checks import web_settings
from gateway.core.storage import StorageHealth
from gateway.page.facade import GatewayWebFacade
from gateway.page.running import Running
from web.app import USERS, create_app, take_first_admin_password
from web.i18n import Language
from web.server import serve_web
from web.settings import WebSettings
from web.users import UserError, UserStore

logger = logging.getLogger(__name__)

WEB_USERS = "web users"  # its name in StorageHealth, /metrics and the page
WEB_FOLDER = "web"  # under data_dir: users, session key, tokens (`uvelka web` finds it here)


class WebPage:
    """The page's app and users while the gateway serves; `port` once it listens, and
    `first_admin_password` when one was generated (None when it came from the environment)."""

    def __init__(
        self, section: WebSection, data_dir: Path, health: StorageHealth, language: Language,
    ) -> None:
        self.port: int | None = None
        self.first_admin_password: str | None = None
        self._settings: WebSettings = web_settings(section, data_dir / WEB_FOLDER, language)
        self._health = health
        self._serve: Callable[[], Awaitable[None]] | None = None  # once open
        self._users: UserStore | None = None

    async def open(self, running: Running) -> None:
        """Build the app over the running gateway; its users and keys are kept under
        data_dir/web."""
        settings = self._settings
        await asyncio.to_thread(settings.folder.mkdir, parents=True, exist_ok=True)
        app = await create_app(GatewayWebFacade(running), settings)
        self.first_admin_password = take_first_admin_password(app)
        self._users = users = app[USERS]
        if users.unsaved is not None:
            self._health.failed(WEB_USERS, "save the web users", users.unsaved)
        self._serve = functools.partial(serve_web, app, settings, on_listening=self._listening)

    async def serve(self) -> None:
        """Serve until cancelled (call it again after a failure); `open` first."""
        if self._serve is None:
            raise RuntimeError("the web page is not open")
        await self._serve()

    def _listening(self, port: int) -> None:
        self.port = port

    async def retry(self) -> None:
        """Save the users again if the last save failed (a full disk)."""
        users = self._users
        if users is None or users.unsaved is None:
            return
        try:
            await users.save_again()
        except UserError as error:
            self._health.failed(WEB_USERS, "save the web users", error.__cause__ or error)
        else:
            self._health.ok(WEB_USERS)
