"""The `[telegram]` section (issue #15): the bot's token and Bot API server, and the chats
it sends to, each with the audience keys every channel takes (gateway.config.notify)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from gateway.config.frozen import FilePath, Frozen
from gateway.config.notify import AudienceRules
from gateway.config.problem import Finding
from gateway.config.tls_checks import missing_files

TOKEN_ENV = "UVELKA_TELEGRAM_TOKEN"  # noqa: S105 - the variable's name, not a token
DEFAULT_API_URL = "https://api.telegram.org"


class TelegramChat(AudienceRules):
    """One `[[telegram.chats]]` table: a chat (a person, a group: negative ids) and its
    rules."""

    chat_id: int


class TelegramSection(Frozen):
    """The `[telegram]` table."""

    # The token: this file's first line, or the UVELKA_TELEGRAM_TOKEN variable.
    token_file: FilePath | None = None
    # Telegram's own, a self-hosted Bot API server, or a test server.
    api_url: str = DEFAULT_API_URL
    chats: Annotated[list[TelegramChat], Field(max_length=1000)] = Field(default_factory=list)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http:// or https:// URL (https://api.telegram.org)")
        return value

    @field_validator("chats")
    @classmethod
    def _chats_once(cls, value: list[TelegramChat]) -> list[TelegramChat]:
        seen = set()
        for chat in value:
            if chat.chat_id in seen:
                raise ValueError(f"chat_id {chat.chat_id} is listed twice: one table a chat")
            seen.add(chat.chat_id)
        return value

    def token(self) -> str | None:
        """The token from `token_file`, else from the environment, None without either;
        OSError if the file cannot be read (blocking: call at start)."""
        if self.token_file is not None:
            lines = Path(self.token_file).read_text(encoding="utf-8").splitlines()
            return lines[0].strip() if lines and lines[0].strip() else None
        return os.environ.get(TOKEN_ENV) or None


def check_telegram(telegram: TelegramSection) -> list[Finding]:
    """The token file [telegram] names is there (the token is read at start)."""
    return missing_files(("telegram",), {"token_file": telegram.token_file})
