"""Which Telegram user is which gateway user (issue #15).

A user asks the page for a one-time code (an engineer or admin may ask one for someone
else) and sends `/link CODE` to the bot from their Telegram account. A code is 8
characters of an alphabet without look-alikes (40 bits), lives 10 minutes and works once.
The codes waiting are kept in `<data_dir>/telegram/codes.json` (0600) as SHA-256 digests,
never the codes themselves, so a code issued before a restart still works after it; a
code that cannot be saved (a full disk) is refused, not issued. Wrong codes are counted
per Telegram user, who is refused for the rest of the code lifetime after
`MAX_WRONG_CODES`, so nobody can try codes until one fits (counted in memory: a restart
starts the count again).

The links are kept in `<data_dir>/telegram/links.json` (0600), replaced atomically. A
link names the gateway user and when that user was created: a user deleted and made again
under the same name does not inherit the link (as API tokens, web/tokens.py). A link that
cannot be saved (a full disk) is refused, not made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from gateway.core.files import explain, in_thread, write_atomically

logger = logging.getLogger(__name__)

FILE_NAME = "links.json"
CODES_FILE_NAME = "codes.json"
FOLDER = "telegram"  # under data_dir
FILE_VERSION: Final = 1
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen
CODE_CHARS = 8
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 5  # per Telegram user within one code lifetime


class LinkError(Exception):
    """A code or a link refused; str(exc) says why, for the person who asked."""


class NoLink(LinkError):
    """No such link (or none of the user's)."""


class WrongCode(LinkError):
    """A code that is wrong, expired or used."""


class TooManyWrongCodes(LinkError):
    """This Telegram user tried too many wrong codes lately."""


class Link(BaseModel):
    """One Telegram user linked to one gateway user."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    telegram_id: int
    telegram_name: str  # @username or first name when linked, for the page and the audit
    user: str
    user_created: AwareDatetime  # the gateway user's creation: a namesake made later differs
    linked: AwareDatetime


class _LinksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    links: list[Link]


@dataclass(frozen=True, slots=True)
class Code:
    """A code waiting for `/link`: whose, and until when."""

    code: str
    user: str
    user_created: datetime
    expires: datetime


class _WaitingCode(BaseModel):
    """A code as it is saved: its digest, not itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    digest: str
    user: str
    user_created: AwareDatetime
    expires: AwareDatetime


class _CodesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    codes: list[_WaitingCode]


class LinkCodes:
    """The codes waiting, saved in `folder` when one is given; `clock` gives aware UTC
    now. Use `LinkCodes.open` for the saved ones."""

    def __init__(self, clock: Callable[[], datetime], folder: Path | None = None,
                 waiting: list[_WaitingCode] | None = None) -> None:
        self._clock = clock
        self._path = None if folder is None else folder / CODES_FILE_NAME
        self._waiting = {code.digest: code for code in waiting or []}
        self._wrong: dict[int, list[datetime]] = {}

    @classmethod
    async def open(cls, folder: Path, clock: Callable[[], datetime]) -> LinkCodes:
        """The codes saved in `folder` that have not expired; a file that is not a codes
        file is set aside, as the links file is (the codes in it are asked for again)."""
        codes = await in_thread(_read_codes, folder / CODES_FILE_NAME)
        return cls(clock, folder, [code for code in codes if code.expires > clock()])

    async def issue(self, user: str, user_created: datetime) -> Code:
        """A new code for `user`, ending any code they had waiting; LinkError when it
        cannot be saved."""
        self._forget_expired()
        text = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
        code = Code(text, user, user_created, self._clock() + CODE_LIFETIME)
        waiting = {key: c for key, c in self._waiting.items() if c.user != user}
        waiting[_digest(text)] = _WaitingCode(digest=_digest(text), user=user,
                                              user_created=user_created, expires=code.expires)
        try:
            await self._save(waiting)
        except OSError as error:
            raise LinkError(f"cannot save {self._path}: {error}; no code was issued") from error
        return code

    async def redeem(self, text: str, telegram_id: int) -> Code:
        """The code `text` names, used up; WrongCode when it is wrong, expired or used,
        TooManyWrongCodes when this Telegram user tried too many wrong ones lately."""
        self._forget_expired()
        now = self._clock()
        tries = [at for at in self._wrong.get(telegram_id, []) if at > now - CODE_LIFETIME]
        if len(tries) >= MAX_WRONG_CODES:
            raise TooManyWrongCodes("too many wrong codes: ask for a new one in 10 minutes")
        typed = text.strip().upper().replace(" ", "")
        found = self._waiting.get(_digest(typed))
        if found is None:
            self._wrong[telegram_id] = [*tries, now]
            raise WrongCode("this code is wrong, expired or used: get a new one on the page")
        waiting = {key: c for key, c in self._waiting.items() if key != found.digest}
        try:
            await self._save(waiting)
        except OSError as error:
            # Used all the same: the person typing it is here now. Until it expires, a
            # restart would take it back from the file.
            logger.warning("cannot save %s (%s): a used link code stays in it until it "
                           "expires", self._path, error)
            self._waiting = waiting
        return Code(typed, found.user, found.user_created, found.expires)

    async def _save(self, waiting: dict[str, _WaitingCode]) -> None:
        """Save `waiting` (OSError when it cannot be), then keep it."""
        if self._path is not None:
            data = _CodesFile(version=FILE_VERSION, codes=list(waiting.values()))
            await in_thread(write_atomically, self._path,
                            data.model_dump_json(indent=1).encode())
        self._waiting = waiting

    def _forget_expired(self) -> None:
        now = self._clock()
        self._waiting = {key: code for key, code in self._waiting.items() if code.expires > now}
        # Forgotten with their lifetime: a flood of strangers' wrong codes stays bounded.
        self._wrong = {who: tries for who, tries in self._wrong.items()
                       if tries[-1] > now - CODE_LIFETIME}


class LinkStore:
    """The links, by Telegram user id; `open` reads them, changes are saved before they
    count."""

    def __init__(self, path: Path, links: dict[int, Link]) -> None:
        self.path = path
        self._links = links

    @classmethod
    async def open(cls, folder: Path) -> LinkStore:
        """The links kept in `folder`; none when the file is missing. A file that is not a
        links file is set aside (renamed, kept for whoever wants to read it) with an ERROR:
        everyone links again, and nothing is lost that could be read back."""
        path = folder / FILE_NAME
        return cls(path, await in_thread(_read, path))

    def of_telegram(self, telegram_id: int) -> Link | None:
        return self._links.get(telegram_id)

    def all(self) -> list[Link]:
        """Every link, by gateway user."""
        return sorted(self._links.values(), key=lambda link: (link.user, link.telegram_id))

    async def link(self, link: Link) -> Link | None:
        """Save `link`, replacing the Telegram user's former one (returned). LinkError when
        it cannot be saved."""
        before = self._links.get(link.telegram_id)
        await self._save({**self._links, link.telegram_id: link})
        return before

    async def unlink(self, telegram_id: int) -> Link:
        """Remove the Telegram user's link; LinkError when there is none or it cannot be
        saved."""
        found = self._links.get(telegram_id)
        if found is None:
            raise NoLink(f"no Telegram user {telegram_id} is linked")
        await self._save({key: link for key, link in self._links.items() if key != telegram_id})
        return found

    async def _save(self, links: dict[int, Link]) -> None:
        data = _LinksFile(version=FILE_VERSION, links=list(links.values()))
        try:
            await in_thread(write_atomically, self.path,
                            data.model_dump_json(indent=1).encode())
        except OSError as error:
            raise LinkError(f"cannot save {self.path}: {error}; nothing was changed") from error
        self._links = links


def _read(path: Path) -> dict[int, Link]:
    data = _read_file(path, _LinksFile, "every Telegram user must link again")
    return {} if data is None else {link.telegram_id: link for link in data.links}


def _read_codes(path: Path) -> list[_WaitingCode]:
    data = _read_file(path, _CodesFile, "the codes waiting must be asked for again")
    return [] if data is None else data.codes


FileModel = TypeVar("FileModel", _LinksFile, _CodesFile)


def _read_file(path: Path, model: type[FileModel], consequence: str) -> FileModel | None:
    """The file at `path` as `model`; None when it is missing, or when it is not such a
    file: then it is set aside (renamed, kept for whoever wants to read it) with an ERROR."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        reason = explain(error) if isinstance(error, ValidationError) else str(error)
        aside = path.with_name(f"{path.name}.unreadable")
        path.replace(aside)
        logger.error("%s is not a Telegram %s file (%s): set aside as %s; %s", path,
                     path.stem, reason, aside, consequence)
        return None


def _digest(code: str) -> str:
    """What is kept of a code (gateway/notify/telegram/README.md says why not a slow hash)."""
    return hashlib.sha256(code.encode()).hexdigest()
