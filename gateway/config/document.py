"""The configuration file as an editable document: the engineer's comments and layout kept.

The web page edits devices and tags, imports and exports the whole file (issue #5). The
file is a tomlkit document so that a change rewrites only the tables it touches: device
and tag tables are matched by name, keys whose value did not change keep their spelling
and comments, removed keys go, new keys and tables are added. What a document holds is
checked by `validate`, which is `uvelka check-config`'s validator on the document's text.
Its `revision` names its text, for the page's If-Match (issue #17).

A document's text and devices are fixed when it is made: `with_devices` returns a new
one. Parsing is the dearest step of an edit (3.4 s of 4.4 at 15,000 tags,
bench/config_edit.py), so the new document is built on the old one's parsed tree, which
moves to it: an applied edit never needs its predecessor's tree again. The tree moves on
only while it is what parsing the text gives, i.e. while edits only change values: a
table or key added or removed lays a tree out differently from a parse of its text,
and later edits of it would then lay out the file differently (blank lines). A document
without its tree parses its text when asked for an edit, as after a refused edit.

The running gateway's document is read without its tree (`read(path, tree=False)`: the
devices through tomllib): tomlkit's tree of a 10,000-tag file holds ~55 MiB, which a
gateway nobody edits would keep for good (issue #10). Its first edit parses the text, as
one after a refused edit does; later edits take the tree on as before.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
import stat
import threading
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, Table

from gateway.config.loader import validate_text
from gateway.config.model import GatewayConfig
from gateway.config.problem import Problem
from gateway.core.files import SHARED, write_atomically

logger = logging.getLogger(__name__)

DEVICES = "devices"
# New [[devices.tags]] tables are indented below their device, as in docs/configuration.md.
_NESTED_INDENT = 2


class ConfigDocument:
    """A gateway TOML file, parsed with its comments and layout."""

    def __init__(
        self, text: str, values: dict[str, Any], tree: tomlkit.TOMLDocument | None
    ) -> None:
        """The document of TOML `text`, `values` its plain values, `tree` (if kept for the
        next edit) what tomlkit's parse of `text` gives. Use the class methods."""
        self._text = text
        # A hash of the text, not a counter: the same text is the same revision, across
        # restarts too, and a change made against it loses nothing (issue #17).
        self.revision = hashlib.sha256(self._text.encode()).hexdigest()[:32]
        devices = values.get(DEVICES, [])
        self._devices: list[dict[str, Any]] = devices if isinstance(devices, list) else []
        self._tree = tree
        self._tree_lock = threading.Lock()  # edits run in worker threads

    @classmethod
    def of_tree(cls, tree: tomlkit.TOMLDocument, *, as_parsed: bool = True) -> ConfigDocument:
        """The document of `tree`, which it keeps for the next edit when `as_parsed`: the
        tree is what tomlkit's parse of its own text gives."""
        # Taken now: the tree may move to the next document and change there.
        return cls(tree.as_string(), tree.unwrap(), tree if as_parsed else None)

    @classmethod
    def read(cls, path: Path, *, tree: bool = True) -> ConfigDocument:
        """The document in `path` (blocking); raises OSError, UnicodeDecodeError, ValueError.
        Without `tree`, its first edit parses it (see above)."""
        # utf-8-sig as the loader reads it: Windows editors like to prepend a byte order mark.
        text = path.read_bytes().decode("utf-8-sig")
        if not tree:
            return cls(text, tomllib.loads(text), None)  # TOMLDecodeError is a ValueError
        return cls.from_text(text)

    @classmethod
    def from_text(cls, text: str) -> ConfigDocument:
        """The document of TOML `text`; raises ValueError (tomlkit's ParseError) on bad TOML."""
        return cls.of_tree(tomlkit.parse(text))

    @classmethod
    def from_config(cls, config: GatewayConfig) -> ConfigDocument:
        """A document for a configuration that has no file (the demo's): its keys that
        differ from the defaults."""
        document = tomlkit.document()
        for key, value in _no_nulls(config.model_dump(mode="json", exclude_defaults=True)).items():
            document[key] = _toml(value, 0)
        return cls.of_tree(document, as_parsed=False)

    def text(self) -> str:
        """The TOML text, as it would be saved."""
        return self._text

    def devices(self) -> list[dict[str, Any]]:
        """The `[[devices]]` tables as written, defaults not filled in (a copy to keep)."""
        return copy.deepcopy(self._devices)

    def validate(
        self, file: str, base_dir: Path | None = None
    ) -> tuple[GatewayConfig | None, list[Problem]]:
        """`uvelka check-config`'s verdict on this document, its problems naming `file`."""
        return validate_text(self.text(), file, base_dir)

    def with_devices(self, devices: list[dict[str, Any]]) -> ConfigDocument:
        """A new document whose devices are `devices` (JSON-like values; None leaves a key
        out). Unchanged device and tag tables, and unchanged keys, keep their comments.

        Raises ValueError for a value TOML cannot hold (a None inside an array).
        """
        document = self._take_tree()
        wanted = _no_nulls(devices)
        current = document.get(DEVICES)
        reshaped = True
        if not wanted:
            if DEVICES in document:
                del document[DEVICES]
        elif isinstance(current, AoT) and _all_tables(wanted):
            reshaped = _merge_array(current, wanted)
        else:  # not tables either side: check-config will say so if it matters
            document[DEVICES] = _toml(wanted, 0)
        return ConfigDocument.of_tree(document, as_parsed=not reshaped)

    def _take_tree(self) -> tomlkit.TOMLDocument:
        """The parsed tree for a new document to change: this one's, which it gives up,
        or its text parsed again when that is gone."""
        with self._tree_lock:
            tree, self._tree = self._tree, None
        return tree if tree is not None else tomlkit.parse(self._text)

    def save(self, path: Path) -> None:
        """Write the document to `path` atomically, the previous file kept as `<name>.bak`.

        Blocking. The text is written beside the file, flushed to disk and renamed over it
        (`write_atomically`), so a crash leaves either the old file or the new one. The
        backup is a hard link to the old file (a copy where links are not supported), made
        once the new text is on disk, before the rename: the file itself is never missing,
        and a write that fails (a full disk) leaves the backup as it was.
        """
        target = path.resolve()  # a symlinked file keeps its link
        backup = target.with_name(target.name + ".bak")
        try:
            previous = target.stat()
        except FileNotFoundError:
            previous = None

        def keep_backup() -> None:
            backup.unlink(missing_ok=True)
            try:
                os.link(target, backup)
            except OSError:
                shutil.copy2(target, backup)

        write_atomically(
            target,
            self.text().encode("utf-8"),
            # The file may hold the MQTT password: the new one is no more readable than it.
            mode=SHARED if previous is None else stat.S_IMODE(previous.st_mode),
            before_replace=None if previous is None else keep_backup,
        )
        logger.info("configuration saved to %s (previous kept as %s)", target, backup.name)


def _merge_array(array: AoT, wanted: list[dict[str, Any]]) -> bool:
    """Make the array of tables hold `wanted`, reusing its table of the same name for each.
    True when a table or key was added or removed, or tables moved (`_merge_table`)."""
    tables = list(array)
    by_name: dict[object, Table] = {}
    for table in tables:
        by_name.setdefault(_unwrapped(table.get("name")), table)
    indent = _indent_of(tables[0]) if tables else 0
    merged = []
    reshaped = False
    for values in wanted:
        table = by_name.pop(values.get("name"), None)
        if table is None:
            table = _new_table(values, indent)
        else:
            reshaped |= _merge_table(table, values)
        merged.append(table)
    if [id(table) for table in tables] != [id(table) for table in merged]:
        # Emptied and filled again in place: a new array would put blank lines of its own
        # between the tables, which keep theirs.
        del array[:]
        for table in merged:
            array.append(table)
        reshaped = True
    return reshaped


def _merge_table(table: Table | Container, values: dict[str, Any]) -> bool:
    """Make `table` hold exactly `values`, touching only the keys that differ. True
    unless all it did was give keys it has new values (no tables among them)."""
    removed = [key for key in table if key not in values]
    for key in removed:
        del table[key]
    reshaped = bool(removed)
    for key, value in values.items():
        old = table.get(key)
        if old is not None and _same(_unwrapped(old), value):
            continue
        if isinstance(old, AoT) and _all_tables(value):
            reshaped |= _merge_array(old, value)
        else:
            indent = _indent_of(table) if isinstance(table, Table) else 0
            new = _toml(value, indent + _NESTED_INDENT)
            reshaped |= old is None or any(isinstance(i, (Table, AoT)) for i in (old, new))
            table[key] = new
    return reshaped


def _new_array(wanted: list[dict[str, Any]], indent: int) -> AoT:
    array = tomlkit.aot()
    for values in wanted:
        array.append(_new_table(values, indent))
    for table in array:
        # A new array starts each table after the first on a new line; the tables end
        # with a blank line already.
        table.trivia.indent = table.trivia.indent.lstrip("\n")
    return array


def _new_table(values: dict[str, Any], indent: int) -> Table:
    """A table for `values` laid out as by hand: a blank line after its keys, and its
    arrays of tables ([[devices.tags]]) below, indented further."""
    table = tomlkit.table()
    arrays = {key: value for key, value in values.items() if _all_tables(value)}
    for key, value in values.items():
        if key not in arrays:
            table[key] = tomlkit.item(value)
    table.add(tomlkit.nl())
    table.indent(indent)  # before the arrays: it indents what the table holds so far
    for key, value in arrays.items():
        table[key] = _new_array(value, indent + _NESTED_INDENT)
    return table


def _indent_of(table: Table) -> int:
    return len(table.trivia.indent.rsplit("\n", 1)[-1])


def _unwrapped(item: object) -> object:
    unwrap = getattr(item, "unwrap", None)
    return unwrap() if unwrap is not None else item


def _same(old: object, new: object) -> bool:
    """Equal and of the same types throughout: `1` is not `1.0`, nor `true`."""
    if type(old) is not type(new):
        return False
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[key], new[key]) for key in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(_same, old, new))
    return old == new


def _all_tables(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml(value: Any, indent: int) -> Any:
    """`value` as a TOML item; an array of tables laid out as by hand (`_new_table`)."""
    return _new_array(value, indent) if _all_tables(value) else tomlkit.item(value)


def _no_nulls(value: Any) -> Any:
    """`value` without None entries in its tables: TOML has no null; a key set to None is
    unset. A None in an array is left for tomlkit to refuse."""
    if isinstance(value, dict):
        return {key: _no_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_no_nulls(item) for item in value]
    return value

