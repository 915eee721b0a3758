"""ClickHouse's HTTP interface over aiohttp: one POST per statement (issue #16).

Decisions a reader will wonder about, in order:
- No ClickHouse client library: the gateway sends two kinds of statement, an INSERT of
  JSONEachRow bytes the outbox already holds, and the CREATE statements of `uvelka export
  init-clickhouse`. A client library would re-encode each row at every send, and the ones
  for asyncio bring a second HTTP stack or need a newer server than Debian's 18.16.
- Credentials go in the X-ClickHouse-User / X-ClickHouse-Key headers, never in the URL,
  so no log line or error shows the password.
- Every failure is `ClickhouseUnavailable`, with ClickHouse's own first line when it
  answered: an unknown table or a refused password is retried like an outage, so nothing
  is dropped while someone runs init-clickhouse or fixes the password file.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Self

import aiohttp

from gateway.config.export import ClickhouseSection

logger = logging.getLogger(__name__)

_ERROR_CHARS = 300  # of ClickHouse's answer to a failed statement, in logs and status


class ClickhouseUnavailable(Exception):
    """ClickHouse did not take a statement: unreachable, timed out, or it refused it."""


class Clickhouse:
    """A session to one ClickHouse HTTP endpoint; use `Clickhouse.open`."""

    def __init__(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                 tls: ssl.SSLContext | bool) -> None:
        self._session = session
        self._url = url
        self._headers = headers
        self._tls = tls

    @classmethod
    @asynccontextmanager
    async def open(cls, section: ClickhouseSection, password: str | None) -> AsyncIterator[Self]:
        """A session for `section` (the password read by the caller, at start)."""
        headers = {"X-ClickHouse-User": section.username}
        if password:
            headers["X-ClickHouse-Key"] = password
        # The CA file is read here, in a thread: it is file I/O.
        tls = await asyncio.to_thread(_tls, section)
        timeout = aiohttp.ClientTimeout(total=section.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield cls(session, section.url.rstrip("/") + "/", headers, tls)

    async def execute(self, statement: str, body: bytes = b"") -> str:
        """Run `statement` (its data, if any, in `body`); ClickHouse's answer as text."""
        params = {"query": statement} if body else None
        data = body or statement.encode()
        try:
            async with self._session.post(self._url, params=params, data=data,
                                          headers=self._headers, ssl=self._tls) as answer:
                text = await answer.text(errors="replace")
                if answer.status != 200:
                    raise ClickhouseUnavailable(
                        f"HTTP {answer.status}: {_first_line(text)}")
                return text
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise ClickhouseUnavailable(_reason(error)) from error


def _tls(section: ClickhouseSection) -> ssl.SSLContext | bool:
    if not section.url.startswith("https:"):
        return True  # aiohttp's default, unused on http://
    if not section.verify:
        return False
    return ssl.create_default_context(
        cafile=None if section.ca_file is None else str(section.ca_file))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:_ERROR_CHARS] if text.strip() else "(no text)"


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:_ERROR_CHARS]
