"""Writing a file the gateway keeps (alarm and asset states, model files and their archive,
the configuration saved from the page) so that a reader never sees half of it, even after
a power cut: the one way every gateway module persists a file (issue #10). What it saves
as JSON it reads back through a pydantic model, whose refusal `explain` words as before.

The bytes go to a hidden temporary file beside the target (same folder, so the rename
cannot cross file systems), which is synced and renamed over the target; then the folder
is synced, or the rename itself may be lost on an edge box that loses power. A write that
fails (a full disk, issue #17) removes its temporary file, so it does not make the disk
fuller, and raises: the caller reports it to its StorageHealth and retries.

Work on a file that cannot be stopped half-way runs `to_the_end` (a write in a thread:
`in_thread`): a caller cancelled meanwhile waits for it before it stops, so a gateway that
stopped holds no file open under its data_dir and writes nothing more there.

The leaves cannot import the gateway: `analytics/model_file.py` (`uvelka train`'s export)
and `web/private_files.py` (users and session key) keep their own copies, to the same
durability.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from pydantic import ValidationError

# A file of the gateway's own: only its user reads it.
PRIVATE = 0o600
# Read by other users too: a model file `uvelka train` or an operator may also read.
SHARED = 0o644

T = TypeVar("T")
P = ParamSpec("P")


def write_atomically(
    path: Path,
    data: bytes,
    *,
    mode: int = PRIVATE,
    before_replace: Callable[[], object] | None = None,
) -> None:
    """Replace `path` with `data` (permission bits `mode`), creating its folder if missing;
    blocking. `before_replace` runs once the new bytes are on disk, just before the rename
    (the configuration's backup). Raises OSError, with no temporary file left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600 from the start: no moment where a private file is
    # readable by others; a wider mode is set before any byte is written.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            if mode != PRIVATE:
                os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


async def to_the_end(work: Awaitable[T]) -> T:
    """Await `work`, run as a task, until it ends, even when the caller is cancelled
    meanwhile (once or more): then its result is dropped and CancelledError raised once it
    ended. For work on a file that must not outlive its caller."""
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        if not task.cancelled():
            task.exception()  # retrieved: the caller's cancellation is what it gets
        raise cancelled
    return task.result()


async def in_thread(write: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`write(*args, **kwargs)` in a thread, to its end (`to_the_end`): a thread cannot be
    stopped, and awaited by a cancelled caller it would go on writing, with the file open,
    after its caller (and the gateway) stopped."""
    return await to_the_end(asyncio.to_thread(write, *args, **kwargs))


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entries to disk, so that a rename in it survives a power cut."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def explain(error: ValidationError) -> str:
    """A saved file's refusal as "<key path>: <problem>" lines, joined by "; ": the key
    path as the file spells it (`last_event.time`, `versions[2].sha256`), a problem
    raised by our own validators in its own words."""
    problems = []
    for details in error.errors():
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                       for part in details["loc"]).lstrip(".")
        cause = details.get("ctx", {}).get("error")
        problem = str(cause) if isinstance(cause, ValueError) else details["msg"]
        problems.append(f"{path}: {problem}" if path else problem)
    return "; ".join(problems)
