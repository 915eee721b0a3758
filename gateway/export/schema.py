"""The ClickHouse database and table the gateways write to; docs/fleet.md shows the same SQL.

ReplacingMergeTree keyed by (gateway, series, source_time_us): the outbox delivers at least
once, so a batch whose insert ClickHouse took but whose acknowledgement the gateway never
recorded (a SIGKILL, a timeout on the answer) is sent again, maybe grouped with other rows.
Its rows have the same key and the same values: merges keep one of each, and a query with
FINAL (or argMax / GROUP BY over the key) sees one even before the merge. Works with
ClickHouse 18.16 (Debian bookworm's) and later: no DateTime64, no LowCardinality.
"""

from __future__ import annotations


def create_database(database: str) -> str:
    """CREATE DATABASE, idempotent."""
    return f"CREATE DATABASE IF NOT EXISTS `{database}`"


def create_table(database: str, table: str) -> str:
    """CREATE TABLE, idempotent; the columns of gateway.export.rows."""
    return f"""CREATE TABLE IF NOT EXISTS `{database}`.`{table}` (
    gateway String,
    series String,
    source_time_us Int64,
    time DateTime MATERIALIZED toDateTime(intDiv(source_time_us, 1000000)),
    value Nullable(Float64),
    text String,
    quality UInt32,
    model String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (gateway, series, source_time_us)"""


def insert(database: str, table: str) -> str:
    """The INSERT a batch of JSONEachRow lines follows."""
    return f"INSERT INTO `{database}`.`{table}` FORMAT JSONEachRow"
