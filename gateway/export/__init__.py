"""The gateway's history copied to a central store: ClickHouse (issue #16)."""
