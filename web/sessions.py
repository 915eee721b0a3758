"""Login sessions in encrypted cookies: aiohttp-session's EncryptedCookieStorage (Fernet).

The cookie holds the whole session (who logged in, when, a random session id, the CSRF
token), encrypted and authenticated with a key kept in `<folder>/session.key` (0600) so
sessions survive restarts. `rotate_key` (`uvelka web rotate-key`) writes a new key; the
running page notices the file changed at its next request and takes it, which ends every
session (issue #14: a key that leaked forges any user's cookie). Expiry is enforced
twice: Fernet refuses a cookie older than max_age by its own timestamp, and `login`
compares the issue time with the injected clock. A cookie cannot be revoked by deleting
server state, so logout remembers the session id until the session would have expired
anyway (in memory: a restart forgets it, and a changed password or role ends every older
session of that user, see web/auth.py).

aiohttp-session's middleware and get_session/new_session keep their state under str
request keys, which aiohttp 3.14 answers with NotAppKeyWarning (an error in our tests);
this module drives the storage through its public load/save API instead.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import Session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet

from web.private_files import write_private

logger = logging.getLogger(__name__)

SESSION = web.RequestKey("uvelka_session", Session)
KEY_FILE = "session.key"
COOKIE = "uvelka_session"
# With TLS the cookie takes the __Host- prefix: browsers then accept it only when Secure,
# for this exact host and Path=/ (RFC 6265bis 4.1.3.2), so a neighbour on another
# subdomain cannot plant one.
_SECURE_COOKIE = "__Host-" + COOKIE


@dataclass(frozen=True)
class Login:
    """Who a live session belongs to, and when it was issued (wall-clock seconds)."""

    name: str
    issued_at: float


def load_key(folder: Path) -> Fernet:
    """The session key of `folder`, created (0600) at first start; blocking I/O."""
    path = folder / KEY_FILE
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = Fernet.generate_key()
        try:
            write_private(path, key)
        except OSError as exc:
            # A first start on a full disk still serves the page (issue #17); the key is
            # made again at the next start, which only ends the sessions.
            logger.warning("cannot save the session key in %s (%s): sessions end at the next "
                           "start", path, exc)
        else:
            logger.info("created the session key %s", path)
    try:
        return Fernet(key)
    except ValueError:
        raise ValueError(f"{path}: not a Fernet key; delete it to have a new one made "
                         "(which ends every session)") from None


def rotate_key(folder: Path) -> Path:
    """Replace the session key of `folder` with a new one (0600, owned as the old one was
    when root runs this); every session issued with the old key ends. Blocking I/O."""
    path = folder / KEY_FILE
    try:
        owner: tuple[int, int] | None = (path.stat().st_uid, path.stat().st_gid)
    except FileNotFoundError:
        owner = None
    write_private(path, Fernet.generate_key())
    if owner is not None and os.geteuid() == 0:
        # root rotating the key of a gateway that runs as its own user: it must read it.
        os.chown(path, *owner)
    logger.info("rotated the session key %s: every session ends", path)
    return path


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class CookieSessions:
    """Loads each request's session into request[SESSION] and saves it when it changed.

    With `key_file`, the key is read again from it whenever the file changes (a stat per
    request, microseconds): a rotated key counts at once, without a restart.
    """

    def __init__(
        self, key: Fernet, *, max_age_s: int, secure: bool, clock: Callable[[], float],
        key_file: Path | None = None,
    ) -> None:
        self._max_age_s = max_age_s
        self._secure = secure
        self._clock = clock  # wall-clock seconds: issue times must survive restarts
        self._storage = self._storage_of(key)
        self._key_file = key_file
        self._key_stamp = None if key_file is None else _stamp(key_file)
        self._revoked: dict[str, float] = {}  # session id -> when it would have expired

    def _storage_of(self, key: Fernet) -> EncryptedCookieStorage:
        return EncryptedCookieStorage(
            key,
            cookie_name=_SECURE_COOKIE if self._secure else COOKIE,
            max_age=self._max_age_s,
            secure=self._secure,
            httponly=True,
            samesite="Strict",
        )

    def _follow_key(self) -> None:
        """Take the key file's new key if it changed since last read."""
        if self._key_file is None:
            return
        stamp = _stamp(self._key_file)
        if stamp is None or stamp == self._key_stamp:
            return  # unchanged, or gone (kept: deleting the file must not end sessions)
        self._key_stamp = stamp
        try:
            key = Fernet(self._key_file.read_bytes().strip())
        except (OSError, ValueError) as exc:
            logger.error("the session key %s changed but cannot be used (%s): the key read "
                         "before stays", self._key_file, exc)
            return
        self._storage = self._storage_of(key)
        logger.warning("the session key %s changed: every session has ended", self._key_file)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._follow_key()
        loaded = await self._storage.load_session(request)
        before = dict(loaded)
        request[SESSION] = loaded
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect after login carries the new cookie
            await self._save_if_changed(request, exc, loaded, before)
            raise
        await self._save_if_changed(request, response, loaded, before)
        return response

    async def start(self, request: web.Request, name: str) -> Session:
        """A fresh session for `name`, replacing the request's: nothing of the session the
        browser came with (a planted cookie, an anonymous CSRF token) survives a login."""
        session = await self._storage.new_session()
        session["user"] = name
        session["issued_at"] = self._clock()
        session["sid"] = secrets.token_urlsafe(16)
        request[SESSION] = session
        return session

    async def end(self, request: web.Request) -> None:
        """End the request's session: the browser drops the cookie, and a copy of it kept
        elsewhere is refused until it would have expired."""
        login = self.login(request)
        if login is not None:
            now = self._clock()
            self._revoked = {sid: until for sid, until in self._revoked.items() if until > now}
            self._revoked[request[SESSION]["sid"]] = login.issued_at + self._max_age_s
        request[SESSION] = await self._storage.new_session()

    def login(self, request: web.Request) -> Login | None:
        """The request's login, or None when there is none or it expired or was ended."""
        session = request[SESSION]
        name, issued_at, sid = session.get("user"), session.get("issued_at"), session.get("sid")
        if not (isinstance(name, str) and isinstance(issued_at, float | int)
                and isinstance(sid, str)):
            return None
        if self._clock() >= issued_at + self._max_age_s or sid in self._revoked:
            return None
        return Login(name, float(issued_at))

    async def _save_if_changed(
        self,
        request: web.Request,
        response: web.StreamResponse,
        loaded: Session,
        before: dict[str, object],
    ) -> None:
        session = request[SESSION]
        if session is not loaded or dict(session) != before:
            await self._storage.save_session(request, response, session)
