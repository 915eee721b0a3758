"""Loading: a complete file becomes the right models; problems are complete and in file order."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drivers.base import ByteOrder, DataType, Table, Tag
from gateway.config import (
    ConfigError,
    DeviceConfig,
    GatewayConfig,
    GatewaySection,
    OpcuaSection,
    Problem,
    Severity,
    TagConfig,
    check_file,
    load_config,
    validate_text,
)

CASES = Path(__file__).parent / "cases"

COMPLETE = """
[gateway]
name = "plant-7"
data_dir = "/var/lib/uvelka"

[opcua]
endpoint = "opc.tcp://0.0.0.0:4841/plant-7"
namespace = "urn:acme:plant-7"

[[devices]]
name = "boiler"
url = "modbus-rtu:///dev/ttyUSB0?baudrate=19200&parity=E&stopbits=1"
unit_id = 17
poll_interval = 0.5
timeout = 0.25
stale_after = 10
max_registers = 60
max_bits = 800
max_gap = 4
enabled = false

[[devices.tags]]
name = "flow"
table = "holding"
address = 100
type = "float32"
order = "CDAB"
scale = 0.1
offset = -2.5
unit = "m3/h"
description = "Feed water flow"
range = [0, 250]
deadband = 0.5
writable = true

[[devices.tags]]
name = "pump_running"
table = "input"
address = 7
type = "bool"
bit = 3
order = "BADC"

[[devices.tags]]
name = "serial"
table = "holding"
address = 200
type = "string"
length = 16

[[devices]]
name = "chiller"
url = "modbus-tcp://10.0.0.8"
"""


def test_complete_config_loads_into_the_models() -> None:
    config, problems = validate_text(COMPLETE, "gateway.toml")

    assert problems == []
    assert config == GatewayConfig(
        gateway=GatewaySection(name="plant-7", data_dir=Path("/var/lib/uvelka")),
        opcua=OpcuaSection(endpoint="opc.tcp://0.0.0.0:4841/plant-7", namespace="urn:acme:plant-7"),
        devices=[
            DeviceConfig(
                name="boiler",
                url="modbus-rtu:///dev/ttyUSB0?baudrate=19200&parity=E&stopbits=1",
                unit_id=17,
                poll_interval=0.5,
                timeout=0.25,
                stale_after=10.0,
                max_registers=60,
                max_bits=800,
                max_gap=4,
                enabled=False,
                tags=[
                    TagConfig(
                        name="flow",
                        table=Table.HOLDING,
                        address=100,
                        type=DataType.FLOAT32,
                        order=ByteOrder.CDAB,
                        scale=0.1,
                        offset=-2.5,
                        unit="m3/h",
                        description="Feed water flow",
                        range=(0.0, 250.0),
                        deadband=0.5,
                        writable=True,
                    ),
                    TagConfig(
                        name="pump_running",
                        table=Table.INPUT,
                        address=7,
                        type=DataType.BOOL,
                        bit=3,
                        order=ByteOrder.BADC,
                    ),
                    TagConfig(
                        name="serial",
                        table=Table.HOLDING,
                        address=200,
                        type=DataType.STRING,
                        length=16,
                    ),
                ],
            ),
            DeviceConfig(name="chiller", url="modbus-tcp://10.0.0.8"),
        ],
    )
    assert config.device("chiller").unit_id == 1
    assert config.devices[0].tags[0].as_tag("boiler.flow") == Tag(
        key="boiler.flow",
        table=Table.HOLDING,
        address=100,
        type=DataType.FLOAT32,
        order=ByteOrder.CDAB,
        scale=0.1,
        offset=-2.5,
    )
    assert config.devices[0].tags[2].as_tag("boiler.serial").width == 8


def test_loaded_models_are_frozen() -> None:
    config, _ = validate_text(COMPLETE, "gateway.toml")
    assert config is not None
    with pytest.raises(ValueError, match="frozen"):
        config.devices[0].tags[0].address = 5  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "[gateway]\nname = 'edge-1'\n", "devices = []\n"])
def test_a_config_without_devices_is_valid(text: str) -> None:
    config, problems = validate_text(text, "gateway.toml")

    assert problems == []
    assert config is not None
    assert config.devices == []
    assert config.opcua == OpcuaSection()


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(COMPLETE, encoding="utf-8")

    assert load_config(path) == validate_text(COMPLETE, "gateway.toml")[0]
    assert check_file(path) == []


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_bytes(b"\xef\xbb\xbf" + COMPLETE.encode())

    assert load_config(path).gateway.name == "plant-7"


def test_the_problem_line_names_file_path_and_message() -> None:
    # The brief's own example, from a file with three devices and six tags on the third.
    text = (CASES / "unknown_type.toml").read_text(encoding="utf-8")

    _, problems = validate_text(text, "gateway.toml")

    assert str(problems[1]) == (
        "gateway.toml: devices[2].tags[5].type: unknown type 'flaot32'; expected one of "
        "bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string"
    )
    assert problems[1] == Problem(
        "gateway.toml",
        "devices[2].tags[5].type",
        "unknown type 'flaot32'; expected one of "
        "bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string",
        Severity.ERROR,
    )


def test_problems_follow_the_file_not_the_schema() -> None:
    # [opcua] and [gateway] come after the devices here: so do their problems.
    text = """
[[devices]]
name = "pump"
url = "modbus-tcp://10.0.0.5"
unit_id = 0

[opcua]
endpoint = "http://x"

[gateway]
name = "a b"
"""
    _, problems = validate_text(text, "g.toml")

    assert [problem.path for problem in problems] == [
        "devices[0].unit_id",
        "opcua.endpoint",
        "gateway.name",
    ]


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    assert [str(problem) for problem in check_file(path)] == [
        f"{path}: cannot read the file: No such file or directory"
    ]
    with pytest.raises(ConfigError, match="No such file or directory"):
        load_config(path)


def test_a_file_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[gateway]\nname = "K\xf6ln"\n'.encode("latin-1"))

    assert [str(problem) for problem in check_file(path)] == [
        f"{path}: line 2: not UTF-8 text; TOML files are UTF-8"
    ]


def test_config_error_prints_one_problem_per_line() -> None:
    problems = [
        Problem("g.toml", "devices[0].url", "missing required key"),
        Problem("g.toml", "devices[0].tags[1].address", "overlaps x", Severity.WARNING),
    ]

    assert str(ConfigError(problems)) == (
        "g.toml: devices[0].url: missing required key\n"
        "g.toml: devices[0].tags[1].address: warning: overlaps x"
    )


def test_warnings_are_logged_when_the_file_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        "[[devices]]\nname = 'm'\nurl = 'modbus-tcp://h'\n"
        "[[devices.tags]]\nname = 'v'\ntable = 'holding'\naddress = 40001\ntype = 'uint16'\n",
        encoding="utf-8",
    )

    with caplog.at_level(logging.WARNING, logger="gateway.config"):
        config = load_config(path)

    assert config.devices[0].tags[0].address == 40001
    assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
        (
            logging.WARNING,
            f"{path}: devices[0].tags[0].address: warning: looks like a 1-based register "
            'number; use table = "holding", address = 0',
        )
    ]
