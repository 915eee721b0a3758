"""The configuration file as an editable document: the engineer's comments and layout kept.

The web page edits devices and tags, imports and exports the whole file (issue #5). An
edit rewrites only the tables it touches: device and tag tables are matched by name, keys
whose value did not change keep their spelling and comments, removed keys go, new keys
and tables are added (gateway.config.toml_tables). What a document holds is checked by
`validate`, which is `uvelka check-config`'s validator on the document's text. Its
`revision` names its text, for the page's If-Match (issue #17).

A document is its text and the values tomllib reads from it, fixed when it is made:
`with_devices` returns a new one. It holds no tomlkit tree: tomlkit's tree of a
10,000-tag file holds ~56 MiB, which a gateway would keep for good, and parsing one takes
seconds (issue #10). An edit parses only the device tables it changes, cut out of the text
and spliced back (gateway.config.device_blocks), then reads the whole new text with
tomllib: when that is not exactly the old values with the wanted devices (a layout the
cut does not know: devices written inline or split by other tables, a header-like line
in a multi-line string), the edit is made again on the whole file parsed by tomlkit, the
same merge either way.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
import stat
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT

from gateway.config.device_blocks import splice_devices
from gateway.config.loader import validate_values
from gateway.config.model import GatewayConfig
from gateway.config.problem import Problem
from gateway.config.toml_tables import all_tables, merge_array, no_nulls, same, toml_item
from gateway.core.files import SHARED, write_atomically

logger = logging.getLogger(__name__)

DEVICES = "devices"


class ConfigDocument:
    """A gateway TOML file, its comments and layout kept through edits of its devices."""

    def __init__(self, text: str, values: dict[str, Any]) -> None:
        """The document of TOML `text`, `values` what tomllib reads from it. Use the
        class methods."""
        self._text = text
        # A hash of the text, not a counter: the same text is the same revision, across
        # restarts too, and a change made against it loses nothing (issue #17).
        self.revision = hashlib.sha256(self._text.encode()).hexdigest()[:32]
        self._values = values
        devices = values.get(DEVICES, [])
        self._devices: list[dict[str, Any]] = devices if isinstance(devices, list) else []

    @classmethod
    def read(cls, path: Path) -> ConfigDocument:
        """The document in `path` (blocking); raises OSError, UnicodeDecodeError, ValueError."""
        # utf-8-sig as the loader reads it: Windows editors like to prepend a byte order mark.
        text = path.read_bytes().decode("utf-8-sig")
        return cls(text, tomllib.loads(text))  # TOMLDecodeError is a ValueError

    @classmethod
    def from_text(cls, text: str) -> ConfigDocument:
        """The document of TOML `text`; raises ValueError (tomlkit's ParseError) when
        tomlkit, which edits it, cannot parse it."""
        tomlkit.parse(text)
        return cls(text, tomllib.loads(text))

    @classmethod
    def from_config(cls, config: GatewayConfig) -> ConfigDocument:
        """A document for a configuration that has no file (the demo's): its keys that
        differ from the defaults."""
        document = tomlkit.document()
        for key, value in no_nulls(config.model_dump(mode="json", exclude_defaults=True)).items():
            document[key] = toml_item(value, 0)
        text = document.as_string()
        return cls(text, tomllib.loads(text))

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
        # Its values are what tomllib reads from its text: not read a second time.
        return validate_values(self._values, file, base_dir)

    def with_devices(self, devices: list[dict[str, Any]]) -> ConfigDocument:
        """A new document whose devices are `devices` (JSON-like values; None leaves a key
        out). Unchanged device and tag tables, and unchanged keys, keep their comments.

        Raises ValueError for a value TOML cannot hold (a None inside an array).
        """
        wanted = no_nulls(devices)
        expected = self._values_with(wanted)
        text = with_final_newline(self._text)
        spliced = splice_devices(text, self._devices, wanted)
        if spliced == text or (spliced is None and same(self._values, expected)):
            return self  # nothing changed; its text and values never change
        if spliced is not None:
            values = _read_back(spliced)
            if values is not None and same(values, expected):
                return ConfigDocument(spliced, values)
            # The cut found blocks that were not the devices' tables: a bug to look into,
            # though the whole file's edit below is right.
            logger.warning("the devices' tables edited alone did not read back as the "
                           "edit wanted; editing the whole file instead")
        text = whole_file_with_devices(text, wanted)
        return ConfigDocument(text, tomllib.loads(text))

    def _values_with(self, devices: list[dict[str, Any]]) -> dict[str, Any]:
        """This document's values with `devices` as its devices."""
        values = {key: value for key, value in self._values.items() if key != DEVICES}
        if devices:
            values[DEVICES] = devices
        return values

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


def with_final_newline(text: str) -> str:
    """`text` ending with a line end (unless empty): a table added after a last line
    without one would be written onto that line, by tomlkit as by a splice."""
    if not text or text.endswith("\n"):
        return text
    return text + ("\r\n" if "\r\n" in text else "\n")


def whole_file_with_devices(text: str, devices: list[dict[str, Any]]) -> str:
    """`text` with `devices` (no None in their tables) as its devices, the whole file
    parsed by tomlkit; raises ValueError for a value TOML cannot hold."""
    document = tomlkit.parse(text)
    current = document.get(DEVICES)
    if not devices:
        if DEVICES in document:
            del document[DEVICES]
    elif isinstance(current, AoT) and all_tables(devices):
        merge_array(current, devices)
    else:  # not tables either side: check-config will say so if it matters
        document[DEVICES] = toml_item(devices, 0)
    return document.as_string()


def _read_back(text: str) -> dict[str, Any] | None:
    """What tomllib reads from `text`, or None when it cannot read it."""
    try:
        return tomllib.loads(text)
    except ValueError:  # TOMLDecodeError, or an integer too long for int()
        return None
