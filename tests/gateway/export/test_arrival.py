"""Samples reach a real ClickHouse with their values, qualities and source times, through
the running gateway (`uvelka export init-clickhouse` made the table); credentials are
checked, and an unknown table keeps rows waiting until it exists."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import tomlkit
from asyncua import ua

from drivers.base import Table
from gateway.config.model import GatewayConfig
from gateway.export.exporter import ClickhouseExporter
from tests.fixtures.assets import words
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import free_port
from tests.gateway.export.clickhouse_server import WAIT_S, WRITER_PASSWORD, ClickhouseServer
from tests.gateway.export.support import (
    DATABASE,
    GATEWAY,
    TABLE,
    device,
    gateway_config,
)

REPO = Path(__file__).resolve().parents[3]


async def init_clickhouse(config_file: Path, env: dict[str, str] | None = None) -> str:
    """`uvelka export init-clickhouse -c config_file`; its output (it must succeed)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "export", "init-clickhouse", "-c", str(config_file),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(WAIT_S):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


async def rows_of(clickhouse: ClickhouseServer, series: str) -> list[dict[str, object]]:
    return await clickhouse.rows(
        "SELECT gateway, series, source_time_us, value, text, quality, model, time "  # noqa: S608 - the test's constants
        f"FROM {DATABASE}.{TABLE} FINAL WHERE series = '{series}' ORDER BY source_time_us")


async def arrived(clickhouse: ClickhouseServer, series: str,
                  count: int) -> list[dict[str, object]]:
    """The rows of `series` once there are `count`."""
    async with asyncio.timeout(WAIT_S):
        while len(rows := await rows_of(clickhouse, series)) < count:  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.1)
    return rows


async def test_samples_arrive_with_values_quality_and_times(
    clickhouse: ClickhouseServer, modbus_tcp_server: PymodbusServer, tmp_path: Path
) -> None:
    password_file = tmp_path / "clickhouse-password"
    password_file.write_text(WRITER_PASSWORD + "\n")
    modbus_tcp_server.set(Table.HOLDING, 0, [*words(21.5), 7])
    modbus_tcp_server.set(Table.COIL, 0, [True])
    dead = f"modbus-tcp://127.0.0.1:{free_port()}"  # nothing listens: Bad quality
    data = gateway_config(tmp_path / "var", clickhouse.url,
                          [device("press", modbus_tcp_server.url), device("dead", dead)],
                          username="writer", password_file=str(password_file),
                          batch_rows=50, max_delay=0.2)
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(tomlkit.dumps(data))
    assert f"{DATABASE}.{TABLE} is ready" in await init_clickhouse(config_file)
    assert f"{DATABASE}.{TABLE} is ready" in await init_clickhouse(config_file)  # idempotent

    before_us = time.time_ns() // 1000
    async with running(GatewayConfig.model_validate(data)):
        [temperature] = await arrived(clickhouse, "press.temperature", 1)
        modbus_tcp_server.set(Table.HOLDING, 2, [8])
        counter = await arrived(clickhouse, "press.counter", 2)
        [running_flag] = await arrived(clickhouse, "press.running", 1)
        [dead_temperature] = await arrived(clickhouse, "dead.temperature", 1)
    after_us = time.time_ns() // 1000

    assert temperature["gateway"] == GATEWAY
    assert temperature["value"] == 21.5
    assert temperature["quality"] == 0
    assert temperature["text"] == ""
    assert temperature["model"] == ""
    assert [row["value"] for row in counter] == [7, 8]
    assert all(row["quality"] == 0 for row in counter)
    assert running_flag["value"] == 1
    assert dead_temperature["value"] is None
    assert dead_temperature["quality"] == ua.StatusCodes.BadCommunicationError
    for row in (temperature, *counter, running_flag, dead_temperature):
        source_us = int(str(row["source_time_us"]))
        assert before_us <= source_us <= after_us
        # The materialized DateTime is the same instant, to the second.
        assert str(row["time"]) == time.strftime(
            "%Y-%m-%d %H:%M:%S", time.gmtime(source_us // 1_000_000))
    assert int(str(counter[0]["source_time_us"])) < int(str(counter[1]["source_time_us"]))


async def test_rows_wait_for_the_table_and_then_arrive(
    clickhouse: ClickhouseServer, modbus_tcp_server: PymodbusServer, tmp_path: Path
) -> None:
    modbus_tcp_server.set(Table.HOLDING, 0, [*words(3.0), 1])
    data = gateway_config(tmp_path / "var", clickhouse.url,
                          [device("press", modbus_tcp_server.url)], batch_rows=10, max_delay=0.1)
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(tomlkit.dumps(data))
    async with running(GatewayConfig.model_validate(data)) as (gateway, _):
        exporter = gateway.running.fanout._export  # noqa: SLF001 - the one the fan-out feeds
        assert isinstance(exporter, ClickhouseExporter)
        # No database nor table yet: every insert fails, the rows wait in the outbox.
        await wait_until(lambda: exporter.counts.failures >= 2, WAIT_S, "inserts refused")
        assert f"Database {DATABASE} doesn't exist" in exporter.counts.last_error
        assert exporter.depth() > 0
        created_us = time.time_ns() // 1000
        await init_clickhouse(config_file)
        [first] = (await arrived(clickhouse, "press.counter", 1))[:1]
        await wait_until(lambda: exporter.counts.down_since is None, WAIT_S, "inserts taken")
    # The value stored while the table was missing arrived, not only later ones.
    assert int(str(first["source_time_us"])) < created_us
    assert first["value"] == 1


async def test_init_clickhouse_reports_a_refused_password(
    clickhouse: ClickhouseServer, tmp_path: Path
) -> None:
    data = gateway_config(tmp_path / "var", clickhouse.url, [], username="writer")
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(tomlkit.dumps(data))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "export", "init-clickhouse", "-c", str(config_file),
        cwd=REPO, env={"UVELKA_CLICKHOUSE_PASSWORD": "wrong", "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    async with asyncio.timeout(WAIT_S):
        output, _ = await process.communicate()
    assert process.returncode == 1
    assert "HTTP 401" in output.decode()
    assert "Wrong password for user writer" in output.decode()
    assert WRITER_PASSWORD not in output.decode()
    assert "wrong" not in output.decode().replace("Wrong password", "")
