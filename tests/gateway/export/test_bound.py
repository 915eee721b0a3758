"""A ClickHouse outage longer than the outbox's bound: the oldest rows go, counted; the
newest are kept and arrive, in order, once ClickHouse is back."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.storage import StorageHealth
from gateway.export import schema
from gateway.export.exporter import clickhouse_exporter
from tests.fixtures.modbus import wait_until
from tests.gateway.export.clickhouse_server import WAIT_S, ClickhouseServer
from tests.gateway.export.support import DATABASE, TABLE, gateway_config

BOUND = 100  # outbox_max_messages; batch_rows = 1 makes each row one message


async def test_a_full_outbox_drops_the_oldest_rows_counted(
    clickhouse: ClickhouseServer, tmp_path: Path
) -> None:
    await clickhouse.query(schema.create_database(DATABASE))
    await clickhouse.query(schema.create_table(DATABASE, TABLE))
    await clickhouse.stop()
    config = GatewayConfig.model_validate(gateway_config(
        tmp_path / "var", clickhouse.url, [], batch_rows=1, max_delay=0.1,
        outbox_max_messages=BOUND))
    (tmp_path / "var").mkdir()
    t0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    async with clickhouse_exporter(config, StorageHealth(tmp_path / "var")) as exporter:
        task = asyncio.create_task(exporter.run())
        try:
            exporter.samples([Sample("press.counter", n, Quality.GOOD,
                                     t0 + timedelta(seconds=n)) for n in range(150)])
            await wait_until(lambda: exporter.outbox_dropped() == 50, WAIT_S, "50 dropped")
            assert exporter.depth() == BOUND
            await wait_until(lambda: exporter.counts.failures >= 1, WAIT_S, "a refused insert")
            await clickhouse.start()
            await wait_until(lambda: exporter.counts.rows_sent == BOUND, WAIT_S * 2,
                             "the kept rows sent")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert exporter.depth() == 0
    values = [row["value"] for row in await clickhouse.rows(
        f"SELECT value FROM {DATABASE}.{TABLE} FINAL ORDER BY source_time_us")]  # noqa: S608 - the test's constants
    assert values == list(range(50, 150))
