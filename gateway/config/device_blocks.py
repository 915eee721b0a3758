"""One device's table edited alone: the configuration text cut at its `[[devices]]` headers.

tomlkit parses 15,000 tags in ~3.4 s and its tree of them holds ~56 MiB (issue #10), while
an edit from the page changes one device. So an edit here finds where each device's table
starts and ends in the text, parses only the tables that change, merges them as the whole
file's tree would be merged (gateway.config.toml_tables) and splices them back; the other
devices and the rest of the file are copied as they are.

A device's block runs from its `[[devices]]` header line to the next header line that is
not one of its own sub-tables (`[[devices.tags]]`, `[devices.x]`): comments and blank lines
before a header belong to the block above it, as tomlkit parses them. The cut is taken
only when the layout is the simple one: as many `[[devices]]` header lines as the file
has devices, one after the other, and each changed block parsing alone to one device
table; otherwise `splice_devices` answers None. A header-like line inside a multi-line
string or array can still cut a block wrongly: the caller reads the whole result back
(gateway.config.document) and edits the whole file when it is not what was wanted.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError
from tomlkit.items import AoT

from gateway.config.toml_tables import all_tables, merge_table, new_table, same

DEVICES = "devices"
BYTE_ORDER_MARK = "\ufeff"

# A table header alone on its line, with an optional comment: `[a.b]` or `[[a.b]]`. Bare
# keys only (quoted keys, or a `]` inside one, make the layout not the simple one).
_HEADER = re.compile(
    r"^[ \t]*(?P<open>\[\[?)[ \t]*(?P<key>[A-Za-z0-9_\-]+(?:[ \t]*\.[ \t]*[A-Za-z0-9_\-]+)*)"
    r"[ \t]*(?P<close>\]\]?)[ \t]*(?:#[^\r\n]*)?\r?$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class DeviceBlocks:
    """A configuration text cut into what comes before its devices, a block per device,
    and what comes after them: `head + "".join(blocks) + tail` is the text."""

    head: str
    blocks: list[str]
    tail: str
    indent: int  # of the first device's header line: new devices get the same


def cut(text: str, devices: int) -> DeviceBlocks | None:
    """`text` cut around its `devices` device tables, or None when they are not laid out
    as `devices` `[[devices]]` tables one after the other."""
    if devices < 1 or text.startswith(BYTE_ORDER_MARK):
        return None
    starts: list[int] = []  # where each device's header line starts
    end: int | None = None  # where the first header after the devices starts
    indent = 0
    for match in _HEADER.finditer(text):
        path = [part.strip() for part in match["key"].split(".")]
        if len(match["open"]) != len(match["close"]) or path[0] != DEVICES:
            if starts and end is None:
                end = match.start()
            continue
        if path == [DEVICES] and match["open"] == "[[":
            if end is not None:
                return None  # devices split by another table
            if not starts:
                indent = len(match[0]) - len(match[0].lstrip(" \t"))
            starts.append(match.start())
        elif len(path) == 1 or not starts or end is not None:
            return None  # [devices], or a device's sub-table away from its device
    if len(starts) != devices:
        return None
    end = len(text) if end is None else end
    blocks = [text[start:stop] for start, stop in zip(starts, [*starts[1:], end], strict=True)]
    return DeviceBlocks(text[: starts[0]], blocks, text[end:], indent)


def splice_devices(
    text: str, old: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> str | None:
    """`text`, whose devices are `old` (as tomllib reads them), with `wanted` as its
    devices: each device matched by name and only the changed ones parsed; None when the
    text is not laid out for it. Raises ValueError for a value TOML cannot hold."""
    if wanted and not all_tables(wanted):
        return None
    blocks = cut(text, len(old))
    if blocks is None:
        return None
    names = [device.get("name") for device in old] + [device.get("name") for device in wanted]
    if not all(isinstance(name, Hashable) for name in names):
        return None
    by_name: dict[object, int] = {}
    for index, device in enumerate(old):
        by_name.setdefault(device.get("name"), index)
    parts = [blocks.head]
    for values in wanted:
        index = by_name.pop(values.get("name"), -1)
        if index < 0:
            parts.append(_new_block(values, blocks.indent))
        elif same(old[index], values):
            parts.append(blocks.blocks[index])
        else:
            edited = _edited_block(blocks.blocks[index], values)
            if edited is None:
                return None
            parts.append(edited)
    parts.append(blocks.tail)
    return "".join(parts)


def _edited_block(block: str, values: dict[str, Any]) -> str | None:
    """The device table in `block` made to hold `values`, or None when `block` is not one
    device table alone."""
    try:
        document = tomlkit.parse(block)
    except ParseError:
        return None
    array = document.get(DEVICES)
    if list(document) != [DEVICES] or not isinstance(array, AoT) or len(array) != 1:
        return None
    merge_table(array[0], values)
    return document.as_string()


def _new_block(values: dict[str, Any], indent: int) -> str:
    """A device table for `values`, laid out as the whole file's edit adds one."""
    document = tomlkit.document()
    array = tomlkit.aot()
    array.append(new_table(values, indent))
    document.append(DEVICES, array)
    return document.as_string()
