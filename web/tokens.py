"""API tokens: how a script uses the JSON API (issue #14), as `Authorization: Bearer <token>`.

A user creates tokens for themself on the page, each with a name saying what uses it; the
token is shown once, in the answer that creates it, and only its SHA-256 is kept, in
`<folder>/tokens.json` (0600). A plain hash is enough: a token is 256 random bits, not a
password a person chose, so no dictionary can guess it and a slow hash would only slow
every request. A request with a token acts as its user with the user's role at that
moment (read from the user store at every request, as sessions do); a token ends when it
is revoked (by its user or an admin) or when its user is deleted, also if a user of the
same name is made again later. A password change does not end tokens: a script is not a
session, and revoking is how a token ends.

A full disk never stops the gateway (issue #17): a change that cannot be saved is refused
(TokenConflict) and not made.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from web.private_files import write_private
from web.users import User

logger = logging.getLogger(__name__)

FILE_NAME = "tokens.json"
FILE_VERSION: Final = 1
PREFIX = "uvk_"  # tells a token apart in a script or a leaked log line
MAX_NAME_CHARS = 64
MAX_PER_USER = 20
_TOKEN = re.compile(r"uvk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class Token(BaseModel):
    """One token as stored: never the token itself, only its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{16}$")
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    user: str
    # When the user it belongs to was created: a user of the same name made after that
    # one was deleted does not inherit its tokens.
    user_created: AwareDatetime
    created: AwareDatetime
    sha256: str = Field(repr=False, pattern=r"^[0-9a-f]{64}$")


class _TokensFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    tokens: list[Token]


class TokenError(Exception):
    """A token change the store refuses; the message says why."""


class UnknownToken(TokenError):
    """No token has that id (or none the asker may see)."""


class TokenConflict(TokenError):
    """The change cannot be made now: too many tokens, or the disk refused it."""


class TokenStore:
    """The tokens, in memory and in `<folder>/tokens.json`; changes are saved before they
    count. Build it with `TokenStore.open`."""

    def __init__(self, path: Path, tokens: Iterable[Token], clock: Callable[[], float]):
        self._path = path
        self._tokens = {token.id: token for token in tokens}
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, folder: Path, *, clock: Callable[[], float]) -> TokenStore:
        """The store of `folder` (empty while the file does not exist); ValueError when
        the file is not a tokens file."""
        path = folder / FILE_NAME
        return cls(path, await asyncio.to_thread(_read, path), clock)

    def user_of(self, presented: str, user_of_name: Callable[[str], User | None]) -> User | None:
        """The user a presented token acts as, or None: not a token, unknown, revoked, or
        its user deleted (`user_of_name` reads the user store)."""
        match = _TOKEN.fullmatch(presented)
        token = None if match is None else self._tokens.get(match.group(1))
        if token is None or not hmac.compare_digest(token.sha256, _digest(presented)):
            return None
        user = user_of_name(token.user)
        if user is None or user.created != token.user_created:
            return None
        return user

    def of(self, user: str | None) -> list[Token]:
        """The tokens of `user` (None: everyone's), oldest first."""
        return sorted((t for t in self._tokens.values() if user is None or t.user == user),
                      key=lambda token: (token.created, token.id))

    async def create(self, user: User, name: str) -> tuple[Token, str]:
        """A new token of `user` named `name`, and the token itself (shown once)."""
        name = name.strip()
        if not 1 <= len(name) <= MAX_NAME_CHARS:
            raise TokenError(f"name: 1 to {MAX_NAME_CHARS} characters, saying what uses it")
        async with self._lock:
            if len(self.of(user.name)) >= MAX_PER_USER:
                raise TokenConflict(f"{user.name} has {MAX_PER_USER} tokens already: revoke "
                                    "one first")
            token_id = secrets.token_hex(8)
            presented = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
            token = Token(id=token_id, name=name, user=user.name, user_created=user.created,
                          created=datetime.fromtimestamp(self._clock(), UTC),
                          sha256=_digest(presented))
            await self._save({**self._tokens, token_id: token})
        logger.info("API token %s %r created for %r", token_id, name, user.name)
        return token, presented

    async def revoke(self, token_id: str, user: str | None) -> Token:
        """Revoke a token of `user` (None: anyone's, for an admin); UnknownToken if there
        is none such."""
        async with self._lock:
            token = self._tokens.get(token_id)
            if token is None or (user is not None and token.user != user):
                raise UnknownToken(f"no token {token_id!r}")
            await self._save({key: t for key, t in self._tokens.items() if key != token_id})
        logger.info("API token %s %r of %r revoked", token_id, token.name, token.user)
        return token

    async def _save(self, tokens: dict[str, Token]) -> None:
        stored = _TokensFile(version=FILE_VERSION, tokens=list(tokens.values()))
        try:
            await asyncio.to_thread(write_private, self._path,
                                    stored.model_dump_json(indent=2).encode("utf-8"))
        except OSError as exc:
            raise TokenConflict(f"cannot save the tokens file {self._path}: {exc}; nothing "
                                "was changed") from exc
        self._tokens = tokens


def _digest(presented: str) -> str:
    return hashlib.sha256(presented.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[Token]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        return _TokensFile.model_validate_json(text).tokens
    except ValidationError as exc:
        raise ValueError(f"{path}: not a tokens file of version {FILE_VERSION}: {exc}") from None
