"""ClickHouse stopped for a while, and the gateway killed with SIGKILL meanwhile: nothing
the outbox took is lost, and a batch ClickHouse took twice (its deletion never committed)
shows once in query results, with FINAL as with GROUP BY."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import tomlkit

from drivers.base import Table
from gateway.export.exporter import OUTBOX_FILE
from tests.fixtures.assets import words
from tests.fixtures.modbus import PymodbusServer
from tests.gateway.export.clickhouse_server import WAIT_S, ClickhouseServer
from tests.gateway.export.support import DATABASE, TABLE, device, gateway_config
from tests.gateway.export.test_arrival import init_clickhouse

REPO = Path(__file__).resolve().parents[3]
COUNTER_PERIOD_S = 0.3  # the device's counter steps this often; polled every 0.05 s
Key = tuple[str, int]  # series, source_time_us


@asynccontextmanager
async def gateway_process(config_file: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`uvelka run -c config_file` in a child process; killed at the end if still there."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "--log-level", "WARNING", "run", "-c",
        str(config_file), cwd=REPO, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


def outbox_rows(path: Path) -> dict[Key, dict[str, Any]]:
    """The rows the outbox file holds (blocking: run in a thread)."""
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        payloads = [payload for (payload,) in db.execute("SELECT payload FROM outbox")]
    rows = (json.loads(line) for payload in payloads for line in payload.splitlines())
    return {(row["series"], row["source_time_us"]): row for row in rows}


async def table_rows(clickhouse: ClickhouseServer) -> list[dict[str, Any]]:
    return await clickhouse.rows(
        "SELECT series, toInt64(source_time_us) AS source_time_us, value, quality "  # noqa: S608 - the test's constants
        f"FROM {DATABASE}.{TABLE} FINAL ORDER BY series, source_time_us")


async def until(what: str, check: Any) -> Any:
    """Await `check()` until it returns something true; fail after WAIT_S."""
    async with asyncio.timeout(WAIT_S * 2):
        while not (result := await check()):  # noqa: ASYNC110 - other processes' state
            await asyncio.sleep(0.2)
    assert result, what
    return result


async def count_up(server: PymodbusServer) -> None:
    value = 0
    while True:
        value += 1
        server.set(Table.HOLDING, 2, [value])
        await asyncio.sleep(COUNTER_PERIOD_S)


async def test_outage_and_sigkill_lose_nothing_and_duplicate_nothing(
    clickhouse: ClickhouseServer, modbus_tcp_server: PymodbusServer, tmp_path: Path
) -> None:
    modbus_tcp_server.set(Table.HOLDING, 0, words(20.0))
    data_dir = tmp_path / "var"
    data = gateway_config(data_dir, clickhouse.url,
                          [device("press", modbus_tcp_server.url, poll_interval=0.05)],
                          batch_rows=20, max_delay=0.2)
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(tomlkit.dumps(data))
    await init_clickhouse(config_file)
    outbox = data_dir / OUTBOX_FILE
    counter = asyncio.create_task(count_up(modbus_tcp_server))
    try:
        async with gateway_process(config_file) as first:
            await until("rows in ClickHouse", lambda: _at_least(clickhouse, 5))
            await clickhouse.stop()  # the outage
            await until("rows kept in the outbox",
                        lambda: _outbox_holds(outbox, "press.counter", 8))
            first.send_signal(signal.SIGKILL)
            assert await first.wait() == -signal.SIGKILL
    finally:
        counter.cancel()
        with suppress(asyncio.CancelledError):
            await counter
    kept = await asyncio.to_thread(outbox_rows, outbox)
    await clickhouse.start()
    before = {(row["series"], int(row["source_time_us"])): row
              for row in await table_rows(clickhouse)}
    assert before, "rows sent before the outage"
    assert not kept.keys() & before.keys(), "the outbox kept only what was not taken"
    # A batch ClickHouse took but whose deletion the killed gateway never committed: it is
    # in the table and still in the outbox, so the next gateway sends it again.
    with sqlite3.connect(outbox) as db:
        (first_batch,) = db.execute("SELECT payload FROM outbox ORDER BY seq LIMIT 1").fetchone()
    await clickhouse.query(f"INSERT INTO {DATABASE}.{TABLE} FORMAT JSONEachRow", first_batch)

    expected = {**before, **kept}
    async with gateway_process(config_file) as second:
        async def drained() -> bool:
            present = {(row["series"], int(row["source_time_us"]))
                       for row in await table_rows(clickhouse)}
            return expected.keys() <= present and not await asyncio.to_thread(
                outbox_rows, outbox)
        await until("the outbox drained into ClickHouse", drained)
        second.send_signal(signal.SIGTERM)
        async with asyncio.timeout(WAIT_S):
            assert await second.wait() == 0

    final = await table_rows(clickhouse)
    keys = [(row["series"], int(row["source_time_us"])) for row in final]
    assert len(keys) == len(set(keys)), "a row twice in FINAL results"
    by_key = dict(zip(keys, final, strict=True))
    for key, row in expected.items():
        assert by_key[key]["value"] == row["value"], key
        assert by_key[key]["quality"] == row["quality"], key
    grouped = await clickhouse.query(
        "SELECT count() FROM (SELECT series, source_time_us, argMax(value, quality) "  # noqa: S608 - the test's constants
        f"FROM {DATABASE}.{TABLE} GROUP BY gateway, series, source_time_us)")
    assert int(grouped) == len(final)
    counted = [row for key, row in kept.items() if key[0] == "press.counter"]
    assert len(counted) >= 8  # the outage's rows were there to lose


async def _at_least(clickhouse: ClickhouseServer, rows: int) -> bool:
    answer = await clickhouse.query(f"SELECT count() FROM {DATABASE}.{TABLE}")  # noqa: S608 - the test's constants
    return int(answer) >= rows


async def _outbox_holds(path: Path, series: str, rows: int) -> bool:
    kept = await asyncio.to_thread(outbox_rows, path)
    return sum(1 for key in kept if key[0] == series) >= rows
