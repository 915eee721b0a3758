"""One asset's model of one kind, swapped atomically when a new file is dropped in.

A changed file is loaded beside the running model and validated exactly as the
configuration check validates it (loads, manifest present, inputs mapped, a smoke
inference gives finite outputs) before it replaces the running one. A file that fails
is rejected with a logged reason in `status`, and the running model keeps scoring.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from analytics.inference import Model, ModelError
from gateway.config.asset_checks import mapping_problem
from gateway.config.model import AssetConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies one version of a file without reading it."""

    mtime_ns: int
    size: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return cls(stat.st_mtime_ns, stat.st_size, stat.st_ino)


class ModelSlot:
    """The running model of one kind for one asset, and the status of its last change."""

    def __init__(self, asset: AssetConfig, kind: str, path: Path, model: Model) -> None:
        self.asset = asset
        self.kind = kind
        self.path = path
        self.model = model
        self.status = f"ok: {model.version}"
        self._stamp = FileStamp.of(path)

    @classmethod
    def open(cls, asset: AssetConfig, kind: str, path: Path) -> ModelSlot:
        """Load and validate the configured model; raises ModelError (a config problem)."""
        model = _validated(asset, kind, path)
        return cls(asset, kind, path, model)

    def changed(self) -> bool:
        """Whether the file differs from the one last loaded or rejected."""
        stamp = FileStamp.of(self.path)
        return stamp is not None and stamp != self._stamp

    async def reload(self) -> bool:
        """Load the file now beside the running model; swap if valid. True if swapped."""
        self._stamp = FileStamp.of(self.path)
        try:
            model = await asyncio.to_thread(_validated, self.asset, self.kind, self.path)
        except ModelError as exc:
            self.status = f"rejected: {exc}"
            logger.warning("%s: %s model %s rejected, still scoring with %s: %s",
                           self.asset.name, self.kind, os.fspath(self.path),
                           self.model.version, exc)
            return False
        old, self.model = self.model, model
        self.status = f"ok: {model.version}"
        logger.info("%s: %s model %s -> %s", self.asset.name, self.kind, old.version,
                    model.version)
        return True


def _validated(asset: AssetConfig, kind: str, path: Path) -> Model:
    model = Model.load(path)
    problem = mapping_problem(model, kind, asset)
    if problem is not None:
        raise ModelError(problem)
    model.smoke_test()
    return model
