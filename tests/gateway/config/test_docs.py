"""docs/configuration.md stays true to the code: its example, defaults and sample output."""

from __future__ import annotations

import re
import tomllib
from enum import Enum
from pathlib import Path

import pytest

from drivers.modbus.link import LinkSettings
from gateway.config import (
    AlarmConfig,
    AnalyticsSection,
    AssetConfig,
    DeviceConfig,
    GatewaySection,
    HistorySection,
    MqttSection,
    OpcuaSection,
    TagConfig,
    WebSection,
    validate_text,
)
from gateway.config.export import ClickhouseSection

ROOT = Path(__file__).parents[3]
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
CASES = Path(__file__).parent / "cases"
SECTIONS = {
    "[gateway]": GatewaySection,
    "[opcua]": OpcuaSection,
    "[[devices]]": DeviceConfig,
    "[[devices.tags]]": TagConfig,
    "[analytics]": AnalyticsSection,
    "[[assets]]": AssetConfig,
    "[[alarms]]": AlarmConfig,
    "[mqtt]": MqttSection,
    "[web]": WebSection,
    "[history]": HistorySection,
    "[export.clickhouse]": ClickhouseSection,
}


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC, flags=re.DOTALL | re.MULTILINE)


def table_after(heading: str) -> dict[str, list[str]]:
    """The first table after `heading`: first cell (without backticks) -> the other cells."""
    start = DOC.index(f"\n{heading}\n")
    rows: dict[str, list[str]] = {}
    for line in DOC[start:].splitlines()[1:]:
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            rows[cells[0].strip("`")] = cells[1:]
        elif rows:
            break
    return rows


def test_the_complete_example_is_valid_and_uses_every_key() -> None:
    example = fenced("toml")[0]
    config, problems = validate_text(example, "example.toml")
    assert problems == []
    assert config is not None

    raw = tomllib.loads(example)
    used = {
        GatewaySection: set(raw["gateway"]),
        OpcuaSection: set(raw["opcua"]),
        DeviceConfig: {key for device in raw["devices"] for key in device},
        TagConfig: {key for device in raw["devices"] for tag in device["tags"] for key in tag},
    }
    for model, keys in used.items():
        assert keys == set(model.model_fields), model.__name__


@pytest.mark.parametrize("heading", SECTIONS)
def test_every_key_is_documented_with_its_default(heading: str) -> None:
    model = SECTIONS[heading]
    rows = table_after(f"## `{heading}`")

    assert list(rows) == list(model.model_fields)
    for key, field in model.model_fields.items():
        documented = rows[key][1]
        if field.is_required():
            assert documented == "required", key
        elif field.default is None and field.default_factory is None:
            assert documented == "none", key
        else:
            default = field.get_default(call_default_factory=True)
            assert _same(tomllib.loads(f"v = {documented.strip('`')}")["v"], default), key


def _same(documented: object, default: object) -> bool:
    if isinstance(default, Path):
        return Path(str(documented)) == default
    if isinstance(default, Enum):
        return documented == default.value
    return documented == default and type(documented) is type(default)


def test_serial_defaults_match_the_link_parser() -> None:
    rows = table_after(
        "Options of `modbus-rtu`, all optional, each at most once; no other option is accepted:"
    )
    settings = LinkSettings.parse("modbus-rtu:///dev/ttyUSB0")
    for option, (default, _) in rows.items():
        assert str(getattr(settings, option)) == default.strip("`"), option


def test_the_documented_urls_parse() -> None:
    urls = re.findall(r"`((?:modbus-tcp|rtu-over-tcp|modbus-rtu)://[^`]*)`", DOC)
    # host[:port] and host:port are patterns, not addresses.
    addresses = [url for url in urls if "host" not in url]
    assert len(addresses) >= 3
    for url in addresses:
        LinkSettings.parse(url)


def test_the_sample_output_is_what_check_config_prints() -> None:
    sample = fenced("text")[0].splitlines()
    text = (CASES / "several_errors.toml").read_text(encoding="utf-8")

    _, problems = validate_text(text, "gateway.toml")

    assert [str(problem) for problem in problems] == sample
