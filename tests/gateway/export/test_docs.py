"""docs/fleet.md stays true: its CREATE statements are init-clickhouse's, and its queries
run on a real ClickHouse and see a repeated row once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.export import schema
from gateway.export.exporter import _OPC_STATUS
from gateway.export.rows import RowEncoder, sample_rows
from tests.gateway.export.clickhouse_server import ClickhouseServer

DOC = (Path(__file__).parents[3] / "docs" / "fleet.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```sql\n(.*?)^```$", DOC, flags=re.DOTALL | re.MULTILINE)
LOCAL = [block for block in BLOCKS if "ON CLUSTER" not in block]  # no cluster here


def test_the_documented_schema_is_init_clickhouses() -> None:
    created = f"{schema.create_database('uvelka')};\n{schema.create_table('uvelka', 'samples')};\n"
    assert LOCAL[0] == created


async def test_the_documented_queries_run_and_see_a_repeated_row_once(
    clickhouse: ClickhouseServer,
) -> None:
    for statement in LOCAL[0].split(";")[:2]:
        await clickhouse.query(statement)
    now = datetime.now(UTC)
    body = RowEncoder("line1-press", _OPC_STATUS.__getitem__).encode(
        sample_rows([Sample("press.temperature", 21.5, Quality.GOOD, now)]))
    for _ in range(2):  # a batch sent again
        await clickhouse.query(schema.insert("uvelka", "samples"), body)
    final, grouped = [await clickhouse.query(query.rstrip().rstrip(";")) for query in LOCAL[1:3]]
    assert final.splitlines() == [f"{now:%Y-%m-%d %H:%M:%S}\t21.5"]
    minute = f"{now:%Y-%m-%d %H:%M}:00"
    assert grouped.splitlines() == [f"line1-press\tpress.temperature\t{minute}\t21.5"]
    latest = re.search(r"`(SELECT gateway, argMax.*?)`", DOC, flags=re.DOTALL)
    assert latest is not None
    assert (await clickhouse.query(latest[1])).splitlines() == ["line1-press\t21.5"]
