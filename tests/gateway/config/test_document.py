"""The configuration file as an editable document: comments kept, devices replaced,
saved atomically with a backup, checked exactly as `uvelka check-config` checks it."""

from __future__ import annotations

import copy
import difflib
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.cli.demo import DEMO_WEB, EMBEDDED_BROKER, demo_config
from gateway.config import GatewayConfig, check_file, validate_text
from gateway.config.document import ConfigDocument

TEXT = """\
# Plant 7: the gateway in the boiler house.
[gateway]
name = "plant-7"   # shown to SCADA

[opcua]
endpoint = "opc.tcp://127.0.0.1:4840/uvelka"

# Pumps first.
[[devices]]
name = "pump1"                       # the feed pump
url = "modbus-tcp://10.0.0.5"
poll_interval = 0.5

  [[devices.tags]]
  name = "speed"
  table = "holding"
  address = 3                        # manual: 40004
  type = "uint16"

  [[devices.tags]]
  name = "pressure"                  # discharge
  table = "input"
  address = 0
  type = "float32"
  order = "CDAB"

[[devices]]
name = "fan"
url = "modbus-tcp://10.0.0.6"

  [[devices.tags]]
  name = "rpm"
  table = "input"
  address = 0
  type = "uint16"

[[alarms]]
name = "slow"
source = "pump1.speed"
condition = "below"
limit = 100.0
"""


def changed_lines(before: str, after: str) -> list[str]:
    """The lines removed (-) and added (+) from `before` to `after`."""
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_a_document_gives_back_its_text_and_its_devices_as_written() -> None:
    document = ConfigDocument.from_text(TEXT)
    assert document.text() == TEXT
    assert document.devices() == tomllib.loads(TEXT)["devices"]
    # As written: no defaults filled in.
    assert "unit_id" not in document.devices()[0]
    assert "order" not in document.devices()[0]["tags"][0]


def test_devices_is_a_copy_to_keep() -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    devices[0]["tags"][0]["address"] = 99
    assert document.devices()[0]["tags"][0]["address"] == 3


def test_changing_one_tag_key_rewrites_only_its_line() -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    devices[0]["tags"][0]["address"] = 4

    edited = document.with_devices(devices)

    assert changed_lines(TEXT, edited.text()) == [
        "-  address = 3                        # manual: 40004",
        "+  address = 4                        # manual: 40004",
    ]
    assert document.text() == TEXT  # the original document is unchanged


def test_keys_and_tags_added_and_removed_leave_the_rest_as_written() -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    pump = devices[0]
    del pump["poll_interval"]
    pump["unit_id"] = 7
    pump["tags"][1]["order"] = None  # None: unset, as JSON sends it
    pump["tags"].append({"name": "running", "table": "coil", "address": 0, "type": "bool"})

    text = document.with_devices(devices).text()

    assert tomllib.loads(text)["devices"][0] == {
        "name": "pump1",
        "url": "modbus-tcp://10.0.0.5",
        "unit_id": 7,
        "tags": [
            {"name": "speed", "table": "holding", "address": 3, "type": "uint16"},
            {"name": "pressure", "table": "input", "address": 0, "type": "float32"},
            {"name": "running", "table": "coil", "address": 0, "type": "bool"},
        ],
    }
    for comment in ("# Plant 7", "# shown to SCADA", "# Pumps first.", "# the feed pump",
                    "# manual: 40004", "# discharge"):
        assert comment in text
    assert tomllib.loads(text)["alarms"] == tomllib.loads(TEXT)["alarms"]


def test_devices_removed_added_and_reordered() -> None:
    document = ConfigDocument.from_text(TEXT)
    pump, _fan = document.devices()
    boiler = {"name": "boiler", "url": "modbus-tcp://10.0.0.7",
              "tags": [{"name": "level", "table": "input", "address": 1, "type": "int16"}]}

    text = document.with_devices([boiler, pump]).text()

    assert tomllib.loads(text)["devices"] == [boiler, pump]
    assert "# the feed pump" in text
    assert tomllib.loads(text)["alarms"] == tomllib.loads(TEXT)["alarms"]


def test_no_devices_at_all_and_back() -> None:
    document = ConfigDocument.from_text(TEXT)
    empty = document.with_devices([])
    assert "devices" not in tomllib.loads(empty.text())
    assert empty.devices() == []
    again = empty.with_devices(document.devices())
    assert again.devices() == document.devices()


def test_types_count_as_changes_even_when_values_compare_equal() -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    devices[0]["tags"][0]["address"] = 3.0  # 3.0 == 3, but TOML writes a float
    assert tomllib.loads(document.with_devices(devices).text())["devices"][0]["tags"][0][
        "address"
    ] == 3.0


def test_a_null_inside_an_array_is_refused() -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    devices[0]["tags"][1]["range"] = [0.0, None]
    with pytest.raises(ValueError, match="NoneType"):
        document.with_devices(devices)


SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=12),
)
KEYS = st.sampled_from(["url", "unit_id", "address", "type", "order", "scale", "range", "x"])
TAG = st.fixed_dictionaries(
    {"name": st.sampled_from(["speed", "pressure", "rpm", "new1", "new2"])},
    optional={"address": st.integers(0, 9), "order": st.sampled_from(["ABCD", "CDAB"]),
              "range": st.lists(st.floats(-10, 10), min_size=2, max_size=2)},
).flatmap(lambda tag: st.dictionaries(KEYS, SCALARS, max_size=2).map(lambda d: {**d, **tag}))
DEVICE = st.fixed_dictionaries(
    {"name": st.sampled_from(["pump1", "fan", "boiler", "chiller"])},
    optional={"tags": st.lists(TAG, max_size=4), "poll_interval": st.floats(0.1, 10)},
).flatmap(lambda dev: st.dictionaries(KEYS, SCALARS, max_size=2).map(lambda d: {**d, **dev}))


BASES = [
    TEXT,
    '[gateway]\nname = "no-devices"',  # no devices, no final newline
    # Devices and tags written inline, and a device table split by another table.
    'devices = [{name = "pump1", url = "u", tags = [{name = "speed", address = 1}]}]\n'
    '[opcua]\nnamespace = "urn:x"\n',
    '[[devices]]\nname = "fan"\n[gateway]\nname = "g"\n[[devices]]\nname = "pump1"\n',
]


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from(BASES), devices=st.lists(DEVICE, max_size=4))
def test_any_device_list_reads_back_exactly(base: str, devices: list[dict[str, Any]]) -> None:
    document = ConfigDocument.from_text(base)
    wanted = copy.deepcopy(devices)

    text = document.with_devices(devices).text()

    parsed = tomllib.loads(text)
    assert parsed.get("devices", []) == wanted
    assert {key: value for key, value in parsed.items() if key != "devices"} == {
        key: value for key, value in tomllib.loads(base).items() if key != "devices"
    }
    assert devices == wanted  # the caller's list is left alone


@settings(max_examples=100, deadline=None)
@given(base=st.sampled_from(BASES), chain=st.lists(st.lists(DEVICE, max_size=3), min_size=2,
                                                   max_size=4))
def test_a_chain_of_edits_writes_what_fresh_parses_write(
    base: str, chain: list[list[dict[str, Any]]]
) -> None:
    """Each edit builds on the text and values the one before left (no tomlkit tree is
    kept, issue #10); the text must be what editing a fresh read of the previous text
    gives."""
    document = ConfigDocument.from_text(base)
    for devices in chain:
        fresh = ConfigDocument.from_text(document.text()).with_devices(copy.deepcopy(devices))
        document = document.with_devices(copy.deepcopy(devices))
        assert document.text() == fresh.text()


def test_a_document_answers_the_same_after_an_edit_was_made_from_it() -> None:
    document = ConfigDocument.from_text(TEXT)
    before_text, before_devices = document.text(), document.devices()
    edited = copy.deepcopy(before_devices)
    edited[0]["url"] = "tcp://10.0.0.99:502"
    document.with_devices(edited)
    assert document.text() == before_text
    assert document.devices() == before_devices
    # ...and a second, different edit from it (a refused first one) starts from its text.
    again = copy.deepcopy(before_devices)
    again[0]["unit_id"] = 7
    assert document.with_devices(again).text() == \
        ConfigDocument.from_text(before_text).with_devices(again).text()


def test_validate_is_check_config(tmp_path: Path) -> None:
    document = ConfigDocument.from_text(TEXT)
    devices = document.devices()
    devices[1]["poll_interval"] = 0
    devices[1]["tags"][0]["type"] = "flaot32"
    candidate = document.with_devices(devices)
    path = tmp_path / "gateway.toml"
    path.write_text(candidate.text(), encoding="utf-8")

    config, problems = candidate.validate(str(path))

    assert config is None
    assert problems == check_file(path)
    assert [problem.path for problem in problems] == [
        "devices[1].poll_interval",
        "devices[1].tags[0].type",
    ]


def test_save_replaces_the_file_and_keeps_one_backup(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(TEXT, encoding="utf-8")
    path.chmod(0o600)  # it may hold the MQTT password
    document = ConfigDocument.read(path)
    devices = document.devices()
    devices[0]["poll_interval"] = 2.0
    first = document.with_devices(devices)
    devices[0]["poll_interval"] = 3.0
    second = first.with_devices(devices)

    first.save(path)
    assert path.read_text(encoding="utf-8") == first.text()
    assert (tmp_path / "gateway.toml.bak").read_text(encoding="utf-8") == TEXT
    second.save(path)

    assert path.read_text(encoding="utf-8") == second.text()
    assert (tmp_path / "gateway.toml.bak").read_text(encoding="utf-8") == first.text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.toml", "gateway.toml.bak"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "etc" / "gateway.toml"
    real.parent.mkdir()
    real.write_text(TEXT, encoding="utf-8")
    link = tmp_path / "gateway.toml"
    link.symlink_to(real)
    document = ConfigDocument.read(link).with_devices([])

    document.save(link)

    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == document.text()
    assert (real.parent / "gateway.toml.bak").read_text(encoding="utf-8") == TEXT


def test_save_creates_a_missing_file_without_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    ConfigDocument.from_text(TEXT).save(path)
    assert path.read_text(encoding="utf-8") == TEXT
    assert not (tmp_path / "gateway.toml.bak").exists()


def test_read_skips_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    assert ConfigDocument.read(path).text() == TEXT


def test_a_configuration_without_a_file_becomes_a_document_of_the_same_configuration() -> None:
    config = demo_config().model_copy(update={"mqtt": EMBEDDED_BROKER, "web": DEMO_WEB})
    document = ConfigDocument.from_config(config)

    assert validate_text(document.text(), "demo") == (config, [])
    assert document.devices()[0]["name"] == config.devices[0].name
    assert ConfigDocument.from_config(GatewayConfig()).text() == ""


def test_the_backup_is_the_old_file_even_where_hard_links_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(TEXT, encoding="utf-8")

    def no_links(source: object, target: object) -> None:
        raise OSError("hard links not supported on this file system")

    monkeypatch.setattr(os, "link", no_links)
    ConfigDocument.from_text(TEXT).with_devices([]).save(path)

    assert (tmp_path / "gateway.toml.bak").read_text(encoding="utf-8") == TEXT
