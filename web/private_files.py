"""Files only the gateway's user may read (password hashes, the session key); blocking I/O.

`write_private` is the gateway's `gateway.core.files.write_atomically` to the same
durability (the file and its folder synced), kept as a copy of its own because `web` is a
leaf: it cannot import the gateway, and the helper is too small to be a package of its own.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


def ensure_private_folder(folder: Path) -> None:
    """Create `folder` (mode 0700) if it is missing; an existing folder is left as it is."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, mode 0600, flushed to disk with its folder.

    A reader sees the old file or the new one, never half of one, even after a power cut;
    a crash leaves at most a hidden temporary file beside it, a failed write none.
    """
    ensure_private_folder(path.parent)
    # mkstemp creates the file 0600 from the start: no moment where it is world-readable.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    # The rename itself must survive a power cut, or a new password may be lost with it.
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def keep_private(paths: Iterable[Path]) -> None:
    """Make each existing file of `paths` readable by its owner only (issue #14): a secret
    that group or others may read (copied with its mode, restored from a backup, made by
    an older version) is set to 0600 and said with a WARNING, since whoever could read it
    may have; one this process may not change (another user's) is an ERROR, and the
    gateway serves on."""
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            path.chmod(0o600)
        except OSError as exc:
            logger.error("%s is readable by others (mode %04o) and cannot be made private "
                         "(%s): make it 0600, owned by the gateway's user", path, mode, exc)
            continue
        logger.warning("%s was readable by others (mode %04o), now 0600: whoever could read "
                       "it may have; rotate the session key (uvelka web rotate-key) and change "
                       "the passwords or tokens it holds", path, mode)
