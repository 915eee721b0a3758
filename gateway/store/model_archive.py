"""The archive of model versions behind the web page's Models: uploads, and what they replaced.

`<root>/<file stem>/` holds one `.onnx` per version of one model file of `models_dir`, and
`index.json`: each version with who archived it and when, and the activations in order,
the last one being the version put in place. Every file is written beside and renamed
over, so a crash leaves the old file or the new one, never half of one. A version is a
file's content, its sha256 (issue #17: two files with one manifest are two versions, the
same bytes twice are one); it is named by `Model.version` (name, creation time, file
fingerprint prefix), made unique in the index. Archiving bytes already there changes
nothing.

Blocking file work: call it from a worker thread. The index of each file is replaced
whole (never changed in place), so the event loop may read `index()` at any time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import dataclasses as pydantic_dataclasses

from gateway.core.files import SHARED, explain, write_atomically

if TYPE_CHECKING:
    # numpy with it: a gateway without assets does not import it (issue #10).
    from analytics.inference import Model

logger = logging.getLogger(__name__)

INDEX_FORMAT: Final = 1
INDEX_NAME = "index.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# "candidate": trained on the gateway from its history (issue #12), archived, never active.
Origin = Literal["upload", "in place", "candidate"]


@pydantic_dataclasses.dataclass(frozen=True, slots=True)
class ArchivedFile:
    """One archived version: its file in the folder, from an upload, found in place (in
    `models_dir` when another version replaced it) or a training job's candidate."""

    version: str
    file: str
    created: datetime
    sha256: str
    uploaded_at: datetime
    uploaded_by: str
    origin: Origin
    # A candidate an engineer discarded (issue #12): kept, but offered for shadow no more.
    discarded: bool = False


@pydantic_dataclasses.dataclass(frozen=True, slots=True)
class Activation:
    """A version put in place, by whom (None: found there, not put by the archive)."""

    version: str
    at: datetime
    by: str | None


@dataclass(frozen=True, slots=True)
class ArchiveIndex:
    """The archived versions of one model file, oldest first, and its activations."""

    versions: tuple[ArchivedFile, ...] = ()
    activations: tuple[Activation, ...] = ()

    def entry(self, version: str) -> ArchivedFile | None:
        return next((entry for entry in self.versions if entry.version == version), None)

    def by_sha256(self, sha256: str) -> ArchivedFile | None:
        return next((entry for entry in self.versions if entry.sha256 == sha256), None)

    @property
    def current(self) -> str | None:
        """The version of the last activation, if any."""
        return self.activations[-1].version if self.activations else None


class ModelArchive:
    """The archive folders of the model files it was opened for."""

    def __init__(self, root: Path) -> None:
        """Use `ModelArchive.open`."""
        self.root = root
        self._indexes: dict[str, ArchiveIndex] = {}
        # Read-modify-write of an index from several worker threads must not interleave.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, root: Path, files: Iterable[str]) -> ModelArchive:
        """The archive under `root` for the model `files` (as the assets name them)."""
        archive = cls(root)
        for file in files:
            archive._indexes[file] = archive._read(file)
        return archive

    def folder(self, file: str) -> Path:
        """Where the versions of model `file` are kept: its name without .onnx, with any
        folder separators flattened so that it stays under the root."""
        return self.root / _UNSAFE.sub("_", file.removesuffix(".onnx").replace("/", "_"))

    def index(self, file: str) -> ArchiveIndex:
        return self._indexes[file]

    def store(
        self, file: str, data: bytes, model: Model, user: str, origin: Origin, now: datetime
    ) -> tuple[ArchivedFile, bool]:
        """Archive `data` (the checked `model`) as a version of `file`; the entry, and
        whether it is new (bytes already archived keep their file and entry)."""
        sha256 = hashlib.sha256(data).hexdigest()
        with self._lock:
            index = self._indexes[file]
            known = index.by_sha256(sha256)
            if known is not None:
                return known, False
            version = _unused(model.version, {entry.version for entry in index.versions})
            entry = ArchivedFile(
                version=version,
                file=_unused(_UNSAFE.sub("_", version), {entry.file for entry in index.versions},
                             ".onnx"),
                created=model.manifest.created,
                sha256=sha256,
                uploaded_at=now,
                uploaded_by=user,
                origin=origin,
            )
            write_atomically(self.folder(file) / entry.file, data, mode=SHARED)
            self._save(file, replace(index, versions=(*index.versions, entry)))
            return entry, True

    def read(self, file: str, version: str) -> bytes:
        """The bytes of an archived version; KeyError if it is not archived."""
        entry = self._indexes[file].entry(version)
        if entry is None:
            raise KeyError(version)
        return (self.folder(file) / entry.file).read_bytes()

    def discard(self, file: str, version: str) -> ArchivedFile:
        """Mark an archived version discarded (its file stays); KeyError if not archived."""
        with self._lock:
            index = self._indexes[file]
            entry = index.entry(version)
            if entry is None:
                raise KeyError(version)
            marked = replace(entry, discarded=True)
            versions = tuple(marked if e is entry else e for e in index.versions)
            self._save(file, replace(index, versions=versions))
            return marked

    def activated(self, file: str, activation: Activation) -> None:
        """Record that `activation.version` was put in place (after the current one)."""
        with self._lock:
            index = self._indexes[file]
            self._save(file, replace(index, activations=(*index.activations, activation)))

    def rolled_back(self, file: str, activation: Activation) -> None:
        """Record a roll back: the last activation goes, `activation` (of the version
        before it) takes the place of that version's own."""
        with self._lock:
            index = self._indexes[file]
            self._save(file, replace(index, activations=(*index.activations[:-2], activation)))

    def _save(self, file: str, index: ArchiveIndex) -> None:
        saved = _IndexFile(format=INDEX_FORMAT, file=file, versions=index.versions,
                           activations=index.activations)
        text = saved.model_dump_json(indent=1)
        write_atomically(self.folder(file) / INDEX_NAME, text.encode("utf-8"), mode=SHARED)
        self._indexes[file] = index

    def _read(self, file: str) -> ArchiveIndex:
        path = self.folder(file) / INDEX_NAME
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or raw.get("format") != INDEX_FORMAT:
                raise ValueError(f"not an archive index of format {INDEX_FORMAT}")
            try:
                saved = _IndexFile.model_validate(raw)
            except ValidationError as error:
                raise ValueError(explain(error)) from None
            return ArchiveIndex(saved.versions, saved.activations)
        except FileNotFoundError:
            return ArchiveIndex()
        except (OSError, ValueError) as exc:
            # Set aside, never deleted: its versions are still in the folder to recover.
            aside = path.with_name(f"{INDEX_NAME}.damaged")
            with contextlib.suppress(OSError):
                path.replace(aside)
            logger.warning("cannot read the model archive index %s (%s): the archive of %r "
                           "starts empty; the old index is kept as %s", path, exc, file, aside)
            return ArchiveIndex()


def _unused(stem: str, taken: set[str], suffix: str = "") -> str:
    """`stem` + `suffix`, or with -2, -3, ... before the suffix if taken: two versions whose
    names only differ in unsafe characters, or whose file fingerprints share a prefix."""
    name, n = f"{stem}{suffix}", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}{suffix}"
    return name


class _IndexFile(BaseModel):
    """`index.json` as written: its format, the model file it is for, the versions and
    activations (read back with the "<key path>: <problem>" of `explain`)."""

    model_config = ConfigDict(frozen=True)

    format: Literal[1]  # INDEX_FORMAT
    file: str
    versions: tuple[ArchivedFile, ...]
    activations: tuple[Activation, ...]
