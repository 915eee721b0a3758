"""Model management for the web page's Models: what runs per asset, uploads, activation,
roll back (issue #5).

An upload is checked exactly as hot reload checks a file (`ModelFiles.check`: loads, has a
manifest, a smoke inference in a bounded child process gives a finite score; then
`mapping_problem` for every asset using that file) and, if good, archived
(gateway.store.model_archive) without being put in place. Activating a version writes it over
the model file in `models_dir` (beside and renamed over, as `uvelka train` does) and lets
hot reload take it, so the running slots swap it in or refuse it exactly as they would a
file dropped there by hand. The file that was in place is archived first, so it can come
back; roll back puts back the version activated before the current one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.model_file import ModelError, read_model_file
from gateway.config.asset_checks import mapping_problem
from gateway.core.clock import Clock
from gateway.core.files import SHARED, write_atomically
from gateway.runtime.model_slot import ModelFiles, ModelSlot
from gateway.runtime.model_watch import ModelWatcher
from gateway.store.model_archive import Activation, ArchivedFile, ModelArchive, Origin
from web.facade import MAX_MODEL_BYTES

if TYPE_CHECKING:
    # numpy with it: a gateway without assets does not import it (issue #10).
    from analytics.inference import Model
    from analytics.manifest import Manifest

logger = logging.getLogger(__name__)

# A word of a manifest's free text with a path separator in it; `_reduced` decides whether
# it is a path (the training machine's folders are its business and may name its users;
# the file name tells a reader which data it was, issue #11) or a unit such as m/s2.
_WORD_WITH_SEPARATOR = re.compile(r"""[^\s;,'"()]*[\\/][^\s;,'"()]*""")
_ROOTED = re.compile(r"[A-Za-z]:[\\/]|[~.]{0,2}[\\/]")
_FILE_NAME = re.compile(r"[^\\/]*\.\w+:?$")

# How long activate waits for hot reload to take or refuse the file: loading a model of
# tens of MB and its smoke test take seconds on a small edge box (the check's own time
# limit, [analytics] check_timeout, is 10 s by default).
ACTIVATION_WAIT_S = 30.0


class ModelRequestError(Exception):
    """A request the manager cannot act on (unknown asset, kind or version, nothing to roll
    back to); the message says why, for the page."""


@dataclass(frozen=True, slots=True)
class UploadOutcome:
    """An upload archived (`version`, and whether it was `new`) or refused (`reason`)."""

    version: str | None
    reason: str | None = None
    new: bool = False

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class ArchivedVersion:
    """One archived version of a model file; `active` when the asset runs it now."""

    version: str
    created: datetime
    uploaded_at: datetime
    uploaded_by: str
    # "upload"; "in place": archived when another version replaced it; "candidate": a
    # training job's (issue #12)
    origin: str
    active: bool
    discarded: bool = False  # an engineer discarded it as a candidate (issue #12)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model of an asset: its file, the version running and the slot's status, the
    running model's manifest, and the archived versions of the file. `version` and
    `manifest` are None while the slot has no model (its file refused at start, issue #17)."""

    kind: str
    file: str
    version: str | None
    status: str
    manifest: Manifest | None
    archive: tuple[ArchivedVersion, ...]


@dataclass(frozen=True, slots=True)
class AssetModels:
    asset: str
    models: tuple[ModelInfo, ...]


class ModelManager:
    """The assets' models while the gateway serves: listing, upload, activate, roll back.

    One request at a time: each reads and writes the model file and its archive index.
    """

    def __init__(
        self, slots: Sequence[ModelSlot], archive: ModelArchive, files: ModelFiles,
        watcher: ModelWatcher, clock: Clock,
    ) -> None:
        """Use `ModelManager.open`."""
        self._slots = list(slots)
        self._archive = archive
        self._files = files
        self._watcher = watcher
        self._clock = clock
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls, slots: Sequence[ModelSlot], archive_root: Path, files: ModelFiles,
        watcher: ModelWatcher, clock: Clock,
    ) -> ModelManager:
        """The manager of the `slots`' model files, archived under `archive_root`; `files`
        checks them, `watcher` is their hot reload, running."""
        names = {_file_of(slot) for slot in slots}
        archive = await asyncio.to_thread(ModelArchive.open, archive_root, names)
        return cls(slots, archive, files, watcher, clock)

    def assets(self) -> list[AssetModels]:
        """Per asset, per kind: what runs and what is archived; never blocks."""
        by_asset: dict[str, list[ModelInfo]] = {}
        for slot in self._slots:
            by_asset.setdefault(slot.asset.name, []).append(self._info(slot))
        return [AssetModels(asset, tuple(models)) for asset, models in by_asset.items()]

    async def upload(
        self, asset: str, kind: str, data: bytes, user: str, origin: Origin = "upload"
    ) -> UploadOutcome:
        """Check an uploaded model file for `asset`'s `kind` model and archive it, not
        active yet; a refused file changes nothing and the outcome says why. A training
        job's model comes this way too, as a "candidate" (issue #12); the disk refusing
        raises OSError, the archive as it was."""
        slot = self._slot(asset, kind)
        file = _file_of(slot)
        if len(data) > MAX_MODEL_BYTES:
            return UploadOutcome(None, f"the file has {len(data) / 2**20:.1f} MiB; a model "
                                 f"file may have {MAX_MODEL_BYTES // 2**20} MiB at most")
        async with self._lock:
            try:
                model = await self._files.check(data, f"uploaded {file}")
            except ModelError as exc:
                # In the log too: a hostile file is someone's attempt (issue #14).
                logger.warning("model %s: %r's upload refused: %s", file, user, exc)
                return UploadOutcome(None, str(exc))
            problems = [
                f"{user_slot.asset.name}: {problem}"
                for user_slot in self._users(slot)
                if (problem := mapping_problem(model, user_slot.kind, user_slot.asset))
            ]
            if problems:
                return UploadOutcome(None, "; ".join(problems))
            entry, new = await asyncio.to_thread(
                self._archive.store, file, data, model, user, origin, self._clock.now()
            )
        if new:
            logger.info("model %s: %r archived %s (%s)", file, user, entry.version, origin)
        return UploadOutcome(entry.version, new=new)

    async def activate(self, asset: str, kind: str, version: str, user: str) -> str:
        """Put an archived version in place of the model file, the one in place archived
        first; returns the slot's status once hot reload took or refused it."""
        slot = self._slot(asset, kind)
        file = _file_of(slot)
        if self._archive.index(file).entry(version) is None:
            raise ModelRequestError(f"{file} has no archived version {version!r}")
        async with self._lock:
            await self._keep_in_place(slot, user)
            await self._put_in_place(slot, version)
            if self._archive.index(file).current != version:
                await asyncio.to_thread(
                    self._archive.activated, file, Activation(version, self._clock.now(), user)
                )
            logger.info("model %s: %r activated %s", file, user, version)
            return await self._taken(slot)

    async def roll_back(self, asset: str, kind: str, user: str) -> str:
        """Put back the version activated before the current one; returns the slot's
        status once hot reload took or refused it."""
        slot = self._slot(asset, kind)
        file = _file_of(slot)
        async with self._lock:
            # Without any activation there is nothing to go back to, whatever is in place:
            # refuse before archiving it, so that a refusal changes nothing.
            if self._archive.index(file).activations:
                await self._keep_in_place(slot, user)
            activations = self._archive.index(file).activations
            if len(activations) < 2:
                raise ModelRequestError(f"{file} has no earlier version to roll back to")
            previous = activations[-2].version
            await self._put_in_place(slot, previous)
            await asyncio.to_thread(
                self._archive.rolled_back, file, Activation(previous, self._clock.now(), user)
            )
            logger.info("model %s: %r rolled back %s -> %s", file, user,
                        activations[-1].version, previous)
            return await self._taken(slot)

    async def candidate(self, asset: str, kind: str, version: str) -> tuple[ModelSlot, Model]:
        """A candidate to run in shadow (issue #12): an archived version of the asset's
        model that does not run and was not discarded, checked as an upload is; raises
        ModelRequestError saying why not."""
        slot = self._slot(asset, kind)
        file = _file_of(slot)
        self._not_running(slot, version)
        if self._entry(slot, version).discarded:
            raise ModelRequestError(f"{version} was discarded; activate it to use it again")
        async with self._lock:
            data = await asyncio.to_thread(self._archive.read, file, version)
            try:
                model = await self._files.check(data, f"{file} {version}")
            except ModelError as exc:
                raise ModelRequestError(str(exc)) from None
        problem = mapping_problem(model, kind, slot.asset)
        if problem is not None:
            raise ModelRequestError(f"{asset}: {problem}")
        return slot, model

    async def discard(self, asset: str, kind: str, version: str, user: str) -> None:
        """Mark a candidate discarded in the archive (its file is kept); never the version
        running nor the one last activated. Raises ModelRequestError."""
        slot = self._slot(asset, kind)
        file = _file_of(slot)
        self._not_running(slot, version)
        if self._archive.index(file).current == version:
            raise ModelRequestError(f"{version} is the version last activated for {file}: "
                                    "roll back or activate another first")
        async with self._lock:
            await asyncio.to_thread(self._archive.discard, file, version)
        logger.info("model %s: %r discarded %s", file, user, version)

    def _entry(self, slot: ModelSlot, version: str) -> ArchivedFile:
        file = _file_of(slot)
        entry = self._archive.index(file).entry(version)
        if entry is None:
            raise ModelRequestError(f"{file} has no archived version {version!r}")
        return entry

    def _not_running(self, slot: ModelSlot, version: str) -> None:
        entry = self._entry(slot, version)
        if slot.model is not None and slot.model.sha256 == entry.sha256:
            raise ModelRequestError(f"{version} is the running {slot.kind} model of "
                                    f"{slot.asset.name}, not a candidate")

    def runs(self, asset: str, kind: str, version: str) -> bool:
        """Whether the asset's `kind` slot runs the archived `version` now."""
        slot = self._slot(asset, kind)
        entry = self._archive.index(_file_of(slot)).entry(version)
        return entry is not None and slot.model is not None and slot.model.sha256 == entry.sha256

    def _slot(self, asset: str, kind: str) -> ModelSlot:
        for slot in self._slots:
            if slot.asset.name == asset and slot.kind == kind:
                return slot
        raise ModelRequestError(f"asset {asset!r} has no {kind} model")

    def _users(self, slot: ModelSlot) -> list[ModelSlot]:
        """Every slot scoring with the same file (assets may share one)."""
        return [other for other in self._slots if other.path == slot.path]

    async def _keep_in_place(self, slot: ModelSlot, user: str) -> None:
        """Archive the file in place, unless it is already, and make it the current
        activation if the archive did not put it there (`uvelka train`, a copy by hand)."""
        file = _file_of(slot)
        version = await self._archive_in_place(slot, user)
        if version is not None and self._archive.index(file).current != version:
            await asyncio.to_thread(
                self._archive.activated, file, Activation(version, self._clock.now(), None)
            )

    async def _archive_in_place(self, slot: ModelSlot, user: str) -> str | None:
        """The version of the file in place, archived; None if it cannot be read or fails
        the check."""
        file = _file_of(slot)
        try:
            data = await asyncio.to_thread(read_model_file, slot.path)
            known = self._archive.index(file).by_sha256(hashlib.sha256(data).hexdigest())
            if known is not None:
                return known.version
            model = await self._files.check(data, str(slot.path))
        except ModelError as exc:
            # Hot reload refused it too: the slots still run an earlier version.
            logger.warning("model %s: the file in place is not archived: %s", file, exc)
            return None
        entry, _ = await asyncio.to_thread(
            self._archive.store, file, data, model, user, "in place", self._clock.now()
        )
        return entry.version

    async def _put_in_place(self, slot: ModelSlot, version: str) -> None:
        file = _file_of(slot)
        data = await asyncio.to_thread(self._archive.read, file, version)
        await asyncio.to_thread(write_atomically, slot.path, data, mode=SHARED)

    async def _taken(self, slot: ModelSlot) -> str:
        """The slot's status once hot reload has seen the file just written."""
        try:
            async with asyncio.timeout(ACTIVATION_WAIT_S):
                await self._watcher.checked()
        except TimeoutError:
            logger.warning("model %s: hot reload did not check it within %g s",
                           _file_of(slot), ACTIVATION_WAIT_S)
            return f"pending: not checked within {ACTIVATION_WAIT_S:g} s; see its status later"
        return slot.status

    def _info(self, slot: ModelSlot) -> ModelInfo:
        model = slot.model
        running = None if model is None else model.sha256
        file = _file_of(slot)
        archive = tuple(
            _archived(entry, active=entry.sha256 == running)
            for entry in self._archive.index(file).versions
        )
        manifest = None if model is None else model.manifest
        return ModelInfo(slot.kind, file, slot.version, slot.status, manifest, archive)


def _file_of(slot: ModelSlot) -> str:
    """The model file as the asset names it in the configuration."""
    return slot.asset.models()[slot.kind]


def _archived(entry: ArchivedFile, *, active: bool) -> ArchivedVersion:
    return ArchivedVersion(entry.version, entry.created, entry.uploaded_at, entry.uploaded_by,
                           entry.origin, active, entry.discarded)


def model_json(asset: str, info: ModelInfo, repair: str | None = None) -> dict[str, Any]:
    """One model of an asset as the Models page shows it: what runs (its manifest, with the
    training data's paths reduced to file names), the archived versions, and the tag the
    simulated plant's repair of the asset writes (gateway.page.maintenance), if any."""
    manifest = info.manifest
    return {
        "asset": asset,
        "repair": repair,
        "kind": info.kind,
        "file": info.file,
        # A slot whose file was refused at start runs no model (issue #17).
        "version": info.version or "no model",
        "status": info.status,
        "manifest": None if manifest is None else {
            "name": manifest.name,
            "inputs": list(manifest.inputs),
            "window": f"{manifest.window.length} rows, every {manifest.window.step}",
            # The same as numbers, for the page to say in its language (issue #15).
            "window_rows": manifest.window.length,
            "window_step": manifest.window.step,
            "score_range": list(manifest.score_range),
            "threshold": manifest.threshold,
            "hold": manifest.hold,
            "output_unit": manifest.output_unit,
            "created": manifest.created.isoformat(),
            "training_data": file_names(manifest.data.source),
            "training_fingerprint": manifest.data.sha256,
            "recipe": manifest.recipe.name,
        },
        "metrics": {} if manifest is None else dict(manifest.metrics),
        "versions": [
            {**asdict(v), "created": v.created.isoformat(),
             "uploaded_at": v.uploaded_at.isoformat()}
            for v in info.archive
        ],
    }


def file_names(text: str) -> str:
    """`text` with every path in it reduced to its file name ("/tmp/x/runs.csv: 6000 rows"
    -> "runs.csv: 6000 rows")."""
    return _WORD_WITH_SEPARATOR.sub(_reduced, text)


def _reduced(word: re.Match[str]) -> str:
    path = word.group()
    name = re.split(r"[\\/]", path)[-1]
    if _ROOTED.match(path) or _FILE_NAME.match(name) or len(re.findall(r"[\\/]", path)) > 1:
        return name
    return path
