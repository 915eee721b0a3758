"""Writing a model file so that whoever loads it (hot reload, a restart) never sees half.

`uvelka train`'s export writes with this; the gateway has the same helper in
`gateway.core.files` (`analytics` is a leaf and cannot import the gateway).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
