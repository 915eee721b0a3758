"""Secrets the configuration names but does not hold: a file's first line, or a variable."""

from __future__ import annotations

import os
from pathlib import Path


def read_secret(file: Path | None, variable: str) -> str | None:
    """The first line of `file` (stripped; "" when empty), else the environment's
    `variable`, else None; OSError if the file cannot be read (blocking: call at start)."""
    if file is not None:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""
    return os.environ.get(variable)
