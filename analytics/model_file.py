"""A model file as bytes: written so that whoever loads it (hot reload, a restart) never
sees half, read once, why one cannot be used, and what its check may take.

Nothing here imports numpy or onnxruntime: a gateway without assets names `ModelError`
and `CheckLimits` without loading the model runtime (issue #10); `analytics.inference`
loads and scores models.

`uvelka train`'s export writes with this; the gateway has the same helper in
`gateway.core.files` (`analytics` is a leaf and cannot import the gateway).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ModelError(Exception):
    """A model file cannot be used: unreadable, not ONNX, no or bad manifest, wrong shape."""


@dataclass(frozen=True, slots=True)
class CheckLimits:
    """What a model's test inference may take (analytics.model_check): wall time, and
    address space beyond what the child uses after its imports (the file itself
    included)."""

    timeout_s: float
    memory_mib: int


def read_model_file(path: Path | str) -> bytes:
    """The bytes of a model file, read once, so that its checks and its session see the
    same bytes even if the file is replaced meanwhile (hot reload writes a new file and
    renames it over); ModelError if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` beside `path` and rename it over, both synced: a reader sees the old
    file or the new one, even after a power cut."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            # mkstemp makes the file 0600; a gateway running as another user must read it.
            os.fchmod(out.fileno(), 0o644)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    # The rename itself must survive a power cut on an edge box, not just the bytes.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
