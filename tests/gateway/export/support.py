"""What the export tests share: a gateway configuration exporting to a test server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fixtures.opcua import LOOPBACK_ENDPOINT

GATEWAY = "line1"
DATABASE = "plant"
TABLE = "history"
TAGS = [
    {"name": "temperature", "table": "holding", "address": 0, "type": "float32"},
    {"name": "counter", "table": "holding", "address": 2, "type": "uint16"},
    {"name": "running", "table": "coil", "address": 0, "type": "bool"},
]


def gateway_config(data_dir: Path, clickhouse_url: str, devices: list[dict[str, Any]],
                   **export: Any) -> dict[str, Any]:
    """A gateway's configuration as TOML data: the devices, no history, the export."""
    return {
        "gateway": {"name": GATEWAY, "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "security": ["None"], "anonymous": True},
        "history": {"enabled": False},
        "devices": devices,
        "export": {"clickhouse": {"url": clickhouse_url, "database": DATABASE,
                                  "table": TABLE, **export}},
    }


def device(name: str, url: str, poll_interval: float = 0.1) -> dict[str, Any]:
    return {"name": name, "url": url, "poll_interval": poll_interval, "timeout": 0.5,
            "tags": TAGS}
