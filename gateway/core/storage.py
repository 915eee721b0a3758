"""Which of the gateway's files under data_dir cannot be written, and why (issue #17).

A full disk (or any failing write) under data_dir must never stop the gateway: polling and
OPC UA need no disk. Each store that fails to read or write reports it here and retries
later; this keeps what /metrics and the page show (errors by store, which stores are
degraded and why) and logs transitions only: one WARNING when a store starts failing, one
INFO with the outage length when it works again.
"""

from __future__ import annotations

import errno
import logging
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# SQLite's primary result code for "database or disk is full", and the extended code it
# gives when it cannot grow the WAL index (-shm) of a database it opens: on a full disk,
# an existing WAL database cannot even be read (measured on a full tmpfs).
_SQLITE_FULL = 13
_SQLITE_IOERR_SHMSIZE = 4874
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Below this much free space, a failing write is blamed on a full disk.
_NEARLY_FULL_BYTES = 64 * 1024


def is_storage_error(error: BaseException) -> bool:
    """True for an error of the file system or of SQLite's file: report, retry, go on.

    Not for errors that retrying cannot cure, such as a duplicate key (sqlite3's
    IntegrityError) or misuse of the API (ProgrammingError). A group (from a store's own
    TaskGroup) is one when all it holds are.
    """
    return all(
        isinstance(leaf, OSError | sqlite3.DatabaseError)
        and not isinstance(leaf, sqlite3.IntegrityError | sqlite3.ProgrammingError)
        for leaf in _leaves(error)
    )


def is_disk_full(error: BaseException, folder: Path) -> bool:
    """True when `error` says the disk is full, or `folder`'s file system has no room left."""
    if isinstance(error, OSError) and error.errno in _FULL_ERRNOS:
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF == _SQLITE_FULL or code == _SQLITE_IOERR_SHMSIZE):
        return True
    try:
        return shutil.disk_usage(_existing(folder)).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class StoreProblem:
    """Why one store is degraded, since when (monotonic seconds)."""

    message: str
    disk_full: bool
    since_s: float


class StorageHealth:
    """Storage errors by store, for one data_dir; stores call `failed` and `ok`."""

    def __init__(self, folder: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self._clock = clock
        self.errors: Counter[str] = Counter()
        self._problems: dict[str, StoreProblem] = {}
        self._known: set[str] = set()

    def failed(self, store: str, action: str, error: BaseException) -> None:
        """`store` could not `action` ("save the alarm states"): count, log a transition."""
        self._known.add(store)
        self.errors[store] += 1
        error = next(_leaves(error))  # a group's message would only count its errors
        full = is_disk_full(error, self.folder)
        message = f"cannot {action}: {error}"
        if store in self._problems:
            logger.debug("%s still failing: %s", store, message)
            return
        self._problems[store] = StoreProblem(message, full, self._clock())
        logger.warning("%s: %s%s; the gateway goes on and retries", store, message,
                       f" (disk full under {self.folder})" if full else "")

    def absorb(self, store: str, action: str, error: Exception) -> None:
        """`failed` for a storage error (see `is_storage_error`); anything else is a bug and
        is raised again."""
        if not is_storage_error(error):
            raise error
        self.failed(store, action, error)

    def ok(self, store: str) -> None:
        """`store` read or wrote successfully: end its problem, if it had one."""
        self._known.add(store)
        problem = self._problems.pop(store, None)
        if problem is not None:
            logger.info("%s works again after %.1f s", store, self._clock() - problem.since_s)

    def problems(self) -> Mapping[str, StoreProblem]:
        """The degraded stores now, by name."""
        return dict(self._problems)

    def stores(self) -> list[str]:
        """Every store that reported, degraded or not, by name."""
        return sorted(self._known)

    @property
    def disk_full(self) -> bool:
        """True while a degraded store blames a full disk."""
        return any(problem.disk_full for problem in self._problems.values())


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def _existing(path: Path) -> Path:
    """`path` or its nearest existing parent: data_dir may not exist yet."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path
