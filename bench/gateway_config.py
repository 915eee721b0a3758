"""The gateway TOML for a benchmark run: N simulated devices with the `tag_layout` map."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tag_layout import TagSpec


@dataclass(frozen=True)
class BenchDevice:
    """One simulated device as the gateway sees it."""

    name: str
    port: int


def device_names(count: int) -> list[str]:
    """d000, d001, ... (wider when there are more than 1000)."""
    width = max(3, len(str(count - 1)))
    return [f"d{i:0{width}d}" for i in range(count)]


def _string(value: str) -> str:
    # A JSON string literal is a valid TOML basic string for the text we emit.
    return json.dumps(value)


def render_config(
    *,
    endpoint: str,
    namespace: str,
    devices: Sequence[BenchDevice],
    specs: Sequence[TagSpec],
    poll_interval_s: float,
    timeout_s: float,
    data_dir: Path,
    history: bool = True,
    web: bool = False,
    extra: str = "",
    name: str = "bench",
) -> str:
    """The TOML text of a gateway serving every tag of every device; `history=False`
    turns the `[history]` store off (on by default, as the gateway ships), `web=True`
    adds the web page on a free port of 127.0.0.1, `extra` is TOML put before the devices
    (bench/clickhouse_export.py's [export.clickhouse])."""
    tag_blocks = "".join(
        f"  [[devices.tags]]\n  name = {_string(spec.name)}\n  table = \"holding\"\n"
        f"  address = {spec.address}\n  type = {_string(spec.type)}\n"
        for spec in specs
    )
    lines = [
        "[gateway]",
        f"name = {_string(name)}",
        f"data_dir = {_string(str(data_dir))}",
        "",
        "[opcua]",
        f"endpoint = {_string(endpoint)}",
        f"namespace = {_string(namespace)}",
        # The bench's clients connect anonymously without security (issue #14).
        'security = ["None"]',
        "anonymous = true",
        "",
        *(() if history else ("[history]", "enabled = false", "")),
        *(("[web]", "port = 0", "") if web else ()),
        extra,
        "",
    ]
    head = "\n".join(lines)
    device_blocks = "".join(
        f"[[devices]]\nname = {_string(device.name)}\n"
        f"url = {_string(f'modbus-tcp://127.0.0.1:{device.port}')}\n"
        f"unit_id = 1\npoll_interval = {poll_interval_s!r}\ntimeout = {timeout_s!r}\n"
        f"{tag_blocks}\n"
        for device in devices
    )
    return head + device_blocks
