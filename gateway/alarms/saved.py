"""Alarm state across restarts: one JSON file, replaced atomically after each change.

A damaged file is set aside (renamed, never deleted) and the alarms start Normal: an
operator sees them again if their condition still holds, and nothing is overwritten that
someone may want to read.

A save that fails (a full disk, issue #17) is reported to the StorageHealth and kept:
`retry` writes the latest unsaved states once space returns. It never stops the gateway.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.alarms.rules import AlarmRule
from gateway.alarms.state import Alarm
from gateway.core.files import write_atomically
from gateway.core.storage import StorageHealth

logger = logging.getLogger(__name__)

FILE_VERSION: Final = 1
STORE = "alarm states"  # its name in StorageHealth, /metrics and the page


class AlarmStateFile:
    """The saved state of every alarm, by name."""

    def __init__(self, path: Path, health: StorageHealth | None = None) -> None:
        self.path = path
        self._health = health or StorageHealth(path.parent)
        # The states a failed save could not write, for `retry`; the lock keeps a retry and
        # a save (both in threads) from replacing newer states with older ones.
        self._unsaved: Mapping[str, Mapping[str, Any]] | None = None
        self._lock = threading.Lock()

    def restore(self, rules: Iterable[AlarmRule]) -> list[Alarm]:
        """One alarm per rule, in its saved state where there is one; blocking I/O."""
        saved = self._read()
        alarms = []
        for rule in rules:
            data = saved.get(rule.name)
            alarm = Alarm(rule)
            if data is not None:
                try:
                    alarm = Alarm.from_dict(rule, data)
                except (KeyError, TypeError, ValueError) as exc:
                    logger.warning("alarm %r: cannot restore its saved state, starting Normal: "
                                   "%s", rule.name, exc)
            alarms.append(alarm)
        return alarms

    def save(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the file with `states` (Alarm.to_dict by name); blocking: call it off the
        event loop, with states taken on it. A failed write is reported and kept for
        `retry`."""
        with self._lock:
            self._write_unsaved(states)

    def retry(self) -> None:
        """Write the states a failed save kept, if any; blocking, like `save`."""
        with self._lock:
            if self._unsaved is not None:
                self._write_unsaved(self._unsaved)

    @property
    def unsaved(self) -> bool:
        """True while a failed save waits for `retry`."""
        return self._unsaved is not None

    def _write_unsaved(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        try:
            self._write(states)
        except Exception as error:
            self._health.absorb(STORE, f"save the alarm states to {self.path}", error)
            self._unsaved = states
            return
        self._unsaved = None
        self._health.ok(STORE)

    def _write(self, states: Mapping[str, Mapping[str, Any]]) -> None:
        # An alarm state must survive a power cut too: written and synced as every file.
        text = _StateFile(version=FILE_VERSION, alarms=states).model_dump_json()
        write_atomically(self.path, text.encode("utf-8"))

    def _read(self) -> Mapping[str, Any]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            try:
                return _StateFile.model_validate(raw).alarms
            except ValidationError:
                raise ValueError(f"not an alarm state file of version {FILE_VERSION}") from None
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            aside = self.path.with_name(
                f"{self.path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            try:
                self.path.rename(aside)
            except OSError:
                aside = self.path
            logger.warning("cannot read the alarm states in %s (%s): alarms start Normal; the "
                           "file is kept as %s", self.path, exc, aside)
            return {}


class _StateFile(BaseModel):
    """The file: its format's version and each alarm's state (Alarm.to_dict) by name; the
    states are read one by one (`restore`), so one damaged state spares the others."""

    model_config = ConfigDict(frozen=True)

    version: Literal[1]  # FILE_VERSION
    alarms: Mapping[str, Mapping[str, Any]]
