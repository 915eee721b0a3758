"""One device's table edited alone (issue #10): the text cut at its `[[devices]]` headers,
the changed tables parsed alone and spliced back, must write exactly what editing the
whole file parsed by tomlkit writes; layouts the cut does not know are left to that."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.device_blocks import cut, splice_devices
from gateway.config.document import (
    ConfigDocument,
    whole_file_with_devices,
    with_final_newline,
)
from gateway.config.toml_tables import no_nulls, same
from tests.gateway.config.test_document import TEXT, changed_lines

TWO_DEVICES = """\
[gateway]
name = "g"

[[devices]]
name = "pump1"
url = "u1"

  [[devices.tags]]
  name = "speed"
  address = 1

[[devices]]
name = "fan"
url = "u2"
"""

# Laid out simply, though not as the docs write it: the cut takes these.
SIMPLE = {
    "the docs' layout, comments between the tables": TEXT,
    "CRLF line ends": TEXT.replace("\n", "\r\n"),
    "indented headers, no blank lines, comments after headers, a sub-table": (
        "[opcua]\nnamespace = \"urn:x\"\n\n"
        "    [[devices]]   # first\n    name = \"pump1\"\n    url = \"u\"\n"
        "      [[devices.tags]]\n      name = \"speed\"\n      address = 1\n"
        "    [[devices]]\n    name = \"fan\"\n    [devices.link]\n    retries = 2\n"
    ),
    "devices first, no final newline": '[[devices]]\nname = "pump1"\n[gateway]\nname = "g"',
    "the last device at the end without a final newline": TWO_DEVICES.rstrip("\n"),
    "a multi-line string in a device and after the devices": (
        '[[devices]]\nname = "pump1"\nnote = """\nfirst line\n  second\n"""\n\n'
        '[[devices]]\nname = "fan"\n\n[gateway]\nname = """\nplant\n"""\n'
    ),
}

# Not the simple layout: the whole file is edited.
NOT_SIMPLE = {
    "devices written inline": (
        'devices = [{name = "pump1", url = "u", tags = [{name = "speed", address = 1}]}]\n'
        '[opcua]\nnamespace = "urn:x"\n'
    ),
    "devices split by another table": (
        '[[devices]]\nname = "fan"\n[gateway]\nname = "g"\n[[devices]]\nname = "pump1"\n'
    ),
    "a quoted header key": '[["devices"]]\nname = "pump1"\n[[devices]]\nname = "fan"\n',
    "a [[devices]] line inside a multi-line string": (
        '[gateway]\nname = """\n[[devices]]\n"""\n\n[[devices]]\nname = "pump1"\n'
    ),
    "a device's sub-table after another table": (
        '[[devices]]\nname = "pump1"\n[gateway]\nname = "g"\n[devices.link]\nretries = 1\n'
    ),
    "no devices": '[gateway]\nname = "g"\n',
}
# A document's text never starts with one (read and import drop it, as the loader does);
# tomlkit cannot parse it either.
WITH_BYTE_ORDER_MARK = "\ufeff" + TWO_DEVICES


def devices_of(text: str) -> list[dict[str, Any]]:
    devices: list[dict[str, Any]] = tomllib.loads(text.removeprefix("\ufeff")).get(
        "devices", [])
    return devices


SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
)
KEYS = st.sampled_from(["url", "unit_id", "address", "type", "order", "scale", "note"])
NAMES = st.sampled_from(["speed", "pressure", "rpm", "level", "new"])
DEVICE_NAMES = st.sampled_from(["pump1", "fan", "boiler", "chiller"])


@st.composite
def edited(draw: st.DrawFn, devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`devices` after a few edits the page makes: keys changed, set, unset, tags and
    devices added, removed or moved."""
    devices = copy.deepcopy(devices)
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["key", "tag key", "tag", "device", "remove", "move"]))
        if kind == "device" or not devices:
            tags = draw(st.lists(st.fixed_dictionaries({"name": NAMES}), max_size=2))
            device = {"name": draw(DEVICE_NAMES), "url": "u", **({"tags": tags} if tags else {})}
            devices.insert(draw(st.integers(0, len(devices))), device)
            continue
        device = draw(st.sampled_from(devices))
        tags = device.get("tags")
        if kind == "key":
            device[draw(KEYS)] = draw(st.none() | SCALARS)  # None: unset, as JSON sends it
        elif kind == "tag key" and isinstance(tags, list) and tags:
            draw(st.sampled_from(tags))[draw(KEYS)] = draw(st.none() | SCALARS)
        elif kind == "tag":
            device["tags"] = [*(tags if isinstance(tags, list) else []), {"name": draw(NAMES)}]
        elif kind == "remove":
            devices.remove(device)
        elif kind == "move":
            devices.remove(device)
            devices.insert(draw(st.integers(0, len(devices))), device)
    return devices


@pytest.mark.parametrize("text", SIMPLE.values(), ids=SIMPLE.keys())
def test_a_simple_layout_is_cut_at_its_devices(text: str) -> None:
    blocks = cut(text, len(devices_of(text)))
    assert blocks is not None
    assert blocks.head + "".join(blocks.blocks) + blocks.tail == text
    for block, device in zip(blocks.blocks, devices_of(text), strict=True):
        assert tomllib.loads(block)["devices"] == [device]


@pytest.mark.parametrize("text", NOT_SIMPLE.values(), ids=NOT_SIMPLE.keys())
def test_other_layouts_are_not_cut(text: str) -> None:
    devices = devices_of(text)
    assert cut(text, len(devices)) is None
    wanted = [{**device, "url": "changed"} for device in devices] or [{"name": "new"}]
    assert splice_devices(text, devices, wanted) is None


def test_a_byte_order_mark_is_not_cut() -> None:
    devices = devices_of(WITH_BYTE_ORDER_MARK)
    assert cut(WITH_BYTE_ORDER_MARK, len(devices)) is None
    assert splice_devices(WITH_BYTE_ORDER_MARK, devices, devices[:1]) is None


# tomlkit's whole-file edit raises KeyError on this one (a device's sub-table after another
# table); the splice leaves it to it, so the page refuses the edit as before.
EDITED = [*SIMPLE.values(), *(text for text in NOT_SIMPLE.values()
                              if "[devices.link]" not in text)]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), text=st.sampled_from(EDITED))
def test_the_splice_writes_what_the_whole_files_edit_writes(
    data: st.DataObject, text: str
) -> None:
    old = devices_of(text)
    wanted = data.draw(edited(old))
    document = ConfigDocument.from_text(text)
    ended = with_final_newline(text)
    whole = whole_file_with_devices(ended, no_nulls(wanted))
    spliced = splice_devices(ended, old, no_nulls(wanted))
    if text in SIMPLE.values():
        assert spliced is not None
    if spliced is not None:
        assert spliced == whole
    result = document.with_devices(wanted)
    assert result.text() == (text if same(no_nulls(wanted), old) else whole)
    # same(): NaN is NaN, and 1 is not 1.0
    assert same(tomllib.loads(result.text()).get("devices", []), no_nulls(wanted))
    assert same(result.devices(), no_nulls(wanted))


def test_an_edit_parses_only_the_device_tables_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 devices of 20 tags: changing one tag of one device and adding a device parse
    that one device's table, never the file (tomlkit.parse watched, not replaced)."""
    devices = [{"name": f"d{d:02}", "url": f"modbus-tcp://10.0.0.{d}",
                "tags": [{"name": f"t{t:02}", "address": t, "type": "uint16"}
                         for t in range(20)]} for d in range(30)]
    text = "# plant\n[gateway]\nname = \"g\"\n\n" + whole_file_with_devices("", devices)
    text += '\n# the alarms\n[[alarms]]\nname = "a"\nsource = "d00.t00"\n'
    document = ConfigDocument.from_text(text)
    parsed: list[str] = []
    parse = tomlkit.parse

    def watched(source: str) -> tomlkit.TOMLDocument:
        parsed.append(source)
        return parse(source)

    monkeypatch.setattr(tomlkit, "parse", watched)
    wanted = document.devices()
    wanted[7]["tags"][3]["address"] = 99
    wanted.append({"name": "new", "url": "u"})

    edited = document.with_devices(wanted)

    assert len(parsed) == 1
    assert parsed[0].startswith('[[devices]]\nname = "d07"')
    assert len(parsed[0]) < len(text) / 25
    assert edited.devices() == wanted
    assert changed_lines(text, edited.text()) == [
        "-  address = 3", "+  address = 99",
        '+[[devices]]', '+name = "new"', '+url = "u"', "+",
    ]


def test_headers_written_with_spaces_stay_as_written() -> None:
    """tomlkit's whole-file edit would write the later headers as the first one is
    written; the splice copies the tables it does not change."""
    text = ('[[ devices ]]\nname = "pump1"\n  [[devices . tags]]\n  name = "speed"\n'
            '[[devices]]\nname = "fan"\n')
    document = ConfigDocument.from_text(text)
    wanted = document.devices()
    wanted[1]["url"] = "u"

    assert changed_lines(text, document.with_devices(wanted).text()) == ['+url = "u"']


def test_a_splice_that_reads_back_wrong_is_done_again_on_the_whole_file(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A multi-line string holding a `[[devices]]` line, its count made up by a device
    whose header the cut does not take (quoted): the cut is wrong, and the read-back
    catches it."""
    text = ("[[\"devices\"]]\nname = \"c\"\n"
            "[[devices]]\nname = \"a\"\nnote = '''\n[[devices]]\nname = \"b\" #'''\n")
    document = ConfigDocument.from_text(text)
    wanted = document.devices()
    wanted[1]["url"] = "x"
    assert splice_devices(text, document.devices(), wanted) is not None

    edited = document.with_devices(wanted)

    assert edited.text() == whole_file_with_devices(text, wanted)
    assert tomllib.loads(edited.text())["devices"] == wanted
    assert "did not read back as the edit wanted" in caplog.text


def test_a_file_without_a_final_newline_gets_one_when_its_devices_change() -> None:
    text = TWO_DEVICES.rstrip("\n")
    document = ConfigDocument.from_text(text)
    pump, fan = document.devices()

    assert document.with_devices([pump, fan]).text() == text  # nothing changed
    moved = document.with_devices([fan, pump]).text()
    assert tomllib.loads(moved)["devices"] == [fan, pump]
    assert moved.endswith("\n")
