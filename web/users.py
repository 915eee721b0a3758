"""The web page's users: name, role and password hash, kept in one JSON file (mode 0600).

First start: when the file is missing, the store creates it with one user, `admin`, whose
password comes from the UVELKA_ADMIN_PASSWORD environment variable or, without it, is
generated and handed back once to the caller to show to whoever installs the gateway; it
is never logged or written anywhere in clear.

Several stores may share the file (the page's, the OPC UA server's, `uvelka users` in
another process): each reads it again when it changed before a login or a change
(issue #14), so a user added or a password changed by one counts for the others.

A full disk never stops the gateway (issue #17): when the first start cannot write the
file, the admin exists in memory and `save_again` writes it later (`unsaved` holds the
error meanwhile); a change that cannot be saved is refused (UserConflict) and not made.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from web.i18n import Language
from web.passwords import hash_password, verify_nothing, verify_password
from web.private_files import write_private

logger = logging.getLogger(__name__)

ADMIN_ENV_VAR = "UVELKA_ADMIN_PASSWORD"
FIRST_ADMIN = "admin"
FILE_NAME = "users.json"
FILE_VERSION: Final = 1
MIN_PASSWORD_CHARS = 12
# A password must fit the login form, whose body the page bounds to 8 KiB before reading it
# (web.requests, issue #17): a longer one could be set but never used to log in.
MAX_PASSWORD_CHARS = 1024
NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,31}$"
# Each scrypt hash holds 32 MiB and a core for ~0.1 s: a burst of logins queues here
# instead of exhausting memory.
_HASHES_AT_ONCE = 2


class Role(StrEnum):
    """What a user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"  # read
    OPERATOR = "operator"  # acknowledge alarms
    ENGINEER = "engineer"  # configure, models
    ADMIN = "admin"  # users

    def at_least(self, other: Role) -> bool:
        """True when this role may do what `other` may."""
        return _RANKS[self] >= _RANKS[other]


_RANKS = {role: rank for rank, role in enumerate(Role)}


class User(BaseModel):
    """One user as stored; `changed` moves on any change and ends sessions issued before."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    password_hash: str = Field(repr=False)
    created: AwareDatetime
    changed: AwareDatetime
    # The page's language for this user; None follows the gateway's default (issue #15).
    language: Language | None = None
    # Desktop notifications from the page's bell, in every browser the user opens it in
    # (each browser still asks its own permission; issue #15).
    desktop_notifications: bool = False


class _UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    users: list[User]


class UserError(Exception):
    """A user change the store refuses; the message says why."""


class UnknownUser(UserError):
    """No user has that name."""


class UserConflict(UserError):
    """The change clashes with the users there are: the name is taken, or no admin would
    remain to manage users."""


class UserStore:
    """The users, in memory and in `<folder>/users.json`; changes are saved before they count.

    Build it with `UserStore.open`. Changes are serialised; hashing and file I/O run in
    threads.
    """

    def __init__(
        self,
        path: Path,
        users: Mapping[str, User],
        clock: Callable[[], float],
        unsaved: OSError | None = None,
    ):
        self._path = path
        self._users = dict(users)
        self._clock = clock
        self.unsaved = unsaved  # why the users in memory are not in the file yet, or None
        self._seen = _signature(path)  # the file's state when last read or written
        self._lock = asyncio.Lock()
        self._hashing = asyncio.Semaphore(_HASHES_AT_ONCE)

    @classmethod
    async def open(
        cls,
        folder: Path,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.time,
        create: bool = True,
    ) -> tuple[UserStore, str | None]:
        """The store of `folder`, and the first admin's password if this call generated it.

        With `create` false a missing file is an empty store that creates nothing (the
        OPC UA server's: the page or `uvelka users` makes the first admin).

        `clock` gives wall-clock seconds (time.time) for the created and changed times.
        Raises UserError when UVELKA_ADMIN_PASSWORD is too short, ValueError when the file
        is not a users file.
        """
        path = folder / FILE_NAME
        if not create and not await asyncio.to_thread(path.exists):
            return cls(path, {}, clock), None
        users, generated, unsaved = await asyncio.to_thread(
            _load_or_create, path, environ, clock)
        return cls(path, users, clock, unsaved), generated

    def get(self, name: str) -> User | None:
        """The user called `name`, or None."""
        return self._users.get(name)

    def all(self) -> list[User]:
        """Every user, by name."""
        return sorted(self._users.values(), key=lambda user: user.name)

    async def current(self, name: str) -> User | None:
        """The user called `name` as the file says now (read again if another store changed
        it): for those who act without a login, as the Telegram bot's linked users do."""
        async with self._lock:
            await self._reread()
        return self._users.get(name)

    async def authenticate(self, name: str, password: str) -> User | None:
        """The user when `name` exists and `password` is theirs, else None; an unknown name
        costs the same time as a wrong password."""
        async with self._lock:
            await self._reread()
        user = self._users.get(name)
        async with self._hashing:
            if user is None:
                await asyncio.to_thread(verify_nothing, password)
                return None
            matches = await asyncio.to_thread(verify_password, password, user.password_hash)
        # A change while the hash ran (new password, deletion) wins over this login.
        return user if matches and self._users.get(name) is user else None

    async def add(self, name: str, role: Role, password: str) -> User:
        """Add a user; UserConflict if the name is taken, UserError if name or password is
        not acceptable."""
        _check_name(name)
        _check_password(password)
        async with self._lock:
            await self._reread()
            if name in self._users:
                raise UserConflict(f"user {name!r} exists already")
            now = self._now()
            user = User(name=name, role=role, password_hash=await self._hash(password),
                        created=now, changed=now)
            await self._save({**self._users, name: user})
        logger.info("user %r added with role %s", name, role)
        return user

    async def set_password(self, name: str, password: str) -> User:
        """Give a user a new password (which ends their sessions)."""
        _check_password(password)
        async with self._lock:
            await self._reread()
            user = self._require(name)
            password_hash = await self._hash(password)
            changed = user.model_copy(update={"password_hash": password_hash,
                                              "changed": self._now()})
            await self._save({**self._users, name: changed})
        logger.info("user %r: password changed", name)
        return changed

    async def set_role(self, name: str, role: Role) -> User:
        """Give a user another role; UserConflict if that would leave no admin."""
        async with self._lock:
            await self._reread()
            user = self._require(name)
            if role is not Role.ADMIN:
                self._keep_an_admin(user)
            changed = user.model_copy(update={"role": role, "changed": self._now()})
            await self._save({**self._users, name: changed})
        logger.info("user %r: role %s -> %s", name, user.role, role)
        return changed

    async def set_language(self, name: str, language: Language | None) -> User:
        """Choose the page's language for a user (None: the gateway's default); their
        sessions go on, as this changes nothing about who they are or what they may do."""
        changed = await self._set_preference(name, language=language)
        logger.info("user %r: language %s", name, language or "the gateway's default")
        return changed

    async def set_desktop_notifications(self, name: str, on: bool) -> User:
        """Turn the page's desktop notifications on or off for a user, in all their
        browsers; their sessions go on, as with the language."""
        changed = await self._set_preference(name, desktop_notifications=on)
        logger.info("user %r: desktop notifications %s", name, "on" if on else "off")
        return changed

    async def _set_preference(self, name: str, **preference: object) -> User:
        """Change what a user chose for themselves, not who they are: `changed` stays, so
        no session ends."""
        async with self._lock:
            await self._reread()
            changed = self._require(name).model_copy(update=preference)
            await self._save({**self._users, name: changed})
        return changed

    async def delete(self, name: str) -> None:
        """Remove a user; UserConflict if that would leave no admin."""
        async with self._lock:
            await self._reread()
            self._keep_an_admin(self._require(name))
            await self._save({key: user for key, user in self._users.items() if key != name})
        logger.info("user %r deleted", name)

    def _require(self, name: str) -> User:
        user = self._users.get(name)
        if user is None:
            raise UnknownUser(f"no user {name!r}")
        return user

    def _keep_an_admin(self, leaving: User) -> None:
        admins = [user for user in self._users.values() if user.role is Role.ADMIN]
        if admins == [leaving]:
            raise UserConflict(f"{leaving.name!r} is the last admin: no one could manage users")

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(hash_password, password)

    async def save_again(self) -> None:
        """Write the users that a failed save left in memory only; raises OSError if it
        fails again."""
        async with self._lock:
            if self.unsaved is not None:
                await self._save(self._users)

    async def _reread(self) -> None:
        """Take the file's users if someone else changed it since this store last did
        (holding the lock); users kept in memory only by a full disk stay as they are."""
        if self.unsaved is not None:
            return
        seen = await asyncio.to_thread(_signature, self._path)
        if seen == self._seen:
            return
        try:
            users = await asyncio.to_thread(_read, self._path)
        except (OSError, ValueError) as exc:
            logger.error("cannot read %s again (%s): the users read before stay", self._path, exc)
            return
        self._users, self._seen = users, seen
        logger.info("%s changed: %d users read again", self._path, len(users))

    async def _save(self, users: dict[str, User]) -> None:
        try:
            await asyncio.to_thread(_write, self._path, users.values())
        except OSError as exc:
            # 409, refused by the gateway: the request was fine, the disk was not.
            raise UserConflict(f"cannot save the users file {self._path}: {exc}; "
                               "nothing was changed") from exc
        self._users = users
        self._seen = await asyncio.to_thread(_signature, self._path)
        self.unsaved = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _load_or_create(
    path: Path, environ: Mapping[str, str], clock: Callable[[], float]
) -> tuple[dict[str, User], str | None, OSError | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _create(path, environ, clock)
    if environ.get(ADMIN_ENV_VAR):
        logger.info("%s is ignored: %s exists (it only sets the first admin's password)",
                    ADMIN_ENV_VAR, path)
    return _parse(path, text), None, None


def _read(path: Path) -> dict[str, User]:
    return _parse(path, path.read_text(encoding="utf-8"))


def _parse(path: Path, text: str) -> dict[str, User]:
    try:
        stored = _UsersFile.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"{path}: not a users file of version {FILE_VERSION}: {exc}") from None
    return {user.name: user for user in stored.users}


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is written again (it is replaced, not edited)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _create(
    path: Path, environ: Mapping[str, str], clock: Callable[[], float]
) -> tuple[dict[str, User], str | None, OSError | None]:
    password = environ.get(ADMIN_ENV_VAR) or None
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(18)
    else:
        _check_password(password, source=ADMIN_ENV_VAR)
    now = datetime.fromtimestamp(clock(), UTC)
    admin = User(name=FIRST_ADMIN, role=Role.ADMIN, password_hash=hash_password(password),
                 created=now, changed=now)
    how = "generated, shown once" if generated else f"from {ADMIN_ENV_VAR}"
    try:
        _write(path, [admin])
    except OSError as exc:
        logger.error("cannot create %s (%s): user %r (password %s) exists in memory only "
                     "until the file can be written", path, exc, FIRST_ADMIN, how)
        return {admin.name: admin}, generated, exc
    logger.info("created %s with user %r (password %s)", path, FIRST_ADMIN, how)
    return {admin.name: admin}, generated, None


def _write(path: Path, users: Iterable[User]) -> None:
    stored = _UsersFile(version=FILE_VERSION, users=sorted(users, key=lambda user: user.name))
    write_private(path, stored.model_dump_json(indent=2).encode("utf-8"))


def _check_name(name: str) -> None:
    if not re.fullmatch(NAME_PATTERN, name):
        raise UserError(f"user name {name!r} must be 1 to 32 of a-z 0-9 . _ -, "
                        "starting with a letter")


def _check_password(password: str, source: str = "password") -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UserError(f"{source} must be at least {MIN_PASSWORD_CHARS} and at most "
                        f"{MAX_PASSWORD_CHARS} characters")
