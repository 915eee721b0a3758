"""A real clickhouse-server (Debian's package) on loopback, for the export tests and
bench/clickhouse_export.py.

`ClickhouseServer(folder)`: a server on free ports of 127.0.0.1 with its own data folder
and config files in `folder`; `start()` waits until it answers, `stop()` kills it (an
outage) and `start()` again brings it back on the same ports with the same data. Users:
"default" without a password, and "writer" with WRITER_PASSWORD.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.mqtt import free_port

CLICKHOUSE = Path("/usr/sbin/clickhouse-server")
HOST = "127.0.0.1"
WAIT_S = 60.0  # a start on this loaded machine takes 1-10 s
WRITER_PASSWORD = "s3cret-writer"  # noqa: S105 - the test server's own user
_POLL_S = 0.1

_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><log>{dir}/server.log</log>
        <errorlog>{dir}/error.log</errorlog><console>0</console></logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>{host}</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/data/tmp/</tmp_path>
    <user_files_path>{dir}/data/user_files/</user_files_path>
    <format_schema_path>{dir}/data/format_schemas/</format_schema_path>
    <mark_cache_size>5368709</mark_cache_size>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>{host}</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <writer><password>{password}</password><networks><ip>{host}</ip></networks>
      <profile>default</profile><quota>default</quota></writer>
  </users>
  <quotas><default></default></quotas>
</yandex>
"""


class ClickhouseError(Exception):
    """The test server refused a query."""


@dataclass
class ClickhouseServer:
    """One clickhouse-server process; `start` again after `stop` serves the same data."""

    directory: Path
    http_port: int = 0
    tcp_port: int = 0
    _process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        """The running server's process id."""
        if self._process is None:
            raise RuntimeError("clickhouse-server is not running")
        return self._process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    async def start(self) -> None:
        if not await asyncio.to_thread(CLICKHOUSE.exists):
            raise AssertionError(f"{CLICKHOUSE} is missing: apt-get install clickhouse-server")
        if not self.http_port:
            self.http_port, self.tcp_port = free_port(), free_port()
            self.directory.mkdir(parents=True, exist_ok=True)
            values = {"dir": self.directory, "host": HOST, "http_port": self.http_port,
                      "tcp_port": self.tcp_port, "password": WRITER_PASSWORD}
            (self.directory / "config.xml").write_text(_CONFIG.format(**values))
            (self.directory / "users.xml").write_text(_USERS.format(**values))
        self._process = await asyncio.create_subprocess_exec(
            str(CLICKHOUSE), f"--config-file={self.directory / 'config.xml'}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while not await self._answers():
            if self._process.returncode is not None:
                raise AssertionError(f"clickhouse-server exited {self._process.returncode}: "
                                     f"{self.log()}")
            if loop.time() > deadline:
                raise AssertionError(f"clickhouse-server did not answer in {WAIT_S} s")
            await asyncio.sleep(_POLL_S)

    async def stop(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        if process.returncode is None:
            process.kill()  # an outage, not a clean stop: the data parts are written
        await process.wait()

    def log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    async def query(self, sql: str, body: bytes | None = None) -> str:
        """Run `sql` as "default" (with `body` as its data); the answer's text."""
        params = None if body is None else {"query": sql}
        data = sql.encode() if body is None else body
        timeout = aiohttp.ClientTimeout(total=WAIT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{self.url}/", params=params, data=data) as answer,
        ):
            text = await answer.text()
            if answer.status != 200:
                raise ClickhouseError(text)
            return text

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT; its rows as dicts (JSONEachRow)."""
        text = await self.query(f"{sql} FORMAT JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line]

    async def _answers(self) -> bool:
        timeout = aiohttp.ClientTimeout(total=1.0)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"{self.url}/") as answer,
            ):
                return await answer.text() == "Ok.\n"
        except (aiohttp.ClientError, TimeoutError):
            return False


