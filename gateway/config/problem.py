"""What is wrong with a configuration, and where: the lines `uvelka check-config` prints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Loc = tuple[str | int, ...]
"""A key path as a tuple: ("devices", 2, "tags", 5, "type")."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_\-]+")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"  # valid but probably not what was meant: loading goes on


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem at a key path, before it is tied to a file."""

    loc: Loc
    message: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True, slots=True)
class Problem:
    """One line of the report: `gateway.toml: devices[2].tags[5].type: unknown type ...`."""

    file: str
    path: str
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        label = "warning: " if self.severity is Severity.WARNING else ""
        return f"{where}{label}{self.message}"


class ConfigError(Exception):
    """The configuration has errors; `problems` holds every one (and the warnings) in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def format_path(loc: Loc) -> str:
    """`devices[2].tags[5].type`; keys that are not bare TOML keys are quoted."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else _quoted(part)
            text += f".{key}" if text else key
    return text


def _quoted(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
