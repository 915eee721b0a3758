"""One asset's model of one kind, swapped atomically when its file changes.

A changed file is checked once (loads, manifest present, a smoke inference gives finite
outputs: in a child process bounded in memory and time, analytics.model_check, issue #17),
then loaded beside the running model, and each asset using it checks that its inputs are
mapped, exactly as the configuration check does, before it replaces the running one. A
slot that refuses it keeps scoring with its old model and says why in `status`. Assets
naming the same file share one loaded model, so their windows are scored in one batch.

A file refused at start leaves its slot without a model (`model` None) instead of
stopping the gateway, which would stop it again at every start (issue #17): the asset
runs without that model's outputs, and the slot takes the first good file offered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analytics.model_file import CheckLimits, ModelError, read_model_file
from analytics.model_rules import check_model_bytes
from gateway.config.asset_checks import mapping_problem
from gateway.config.model import AssetConfig

if TYPE_CHECKING:
    from analytics.inference import Model

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

    def __init__(
        self, asset: AssetConfig, kind: str, path: Path, first: Model | ModelError
    ) -> None:
        """The slot as the gateway starts: running `first`, or without a model when `first`
        is why its file was refused, or when the model does not fit the asset."""
        self.asset = asset
        self.kind = kind
        self.path = path
        self.model: Model | None = None  # None: refused at start, none good offered since
        self.columns: list[int] = []
        self.status = ""
        self.refusals = 0  # files refused since the start, for /metrics
        if isinstance(first, ModelError):
            self.refuse(str(first))
        elif (problem := mapping_problem(first, kind, asset)) is not None:
            self.refuse(problem)
        else:
            self._run(first)

    @property
    def version(self) -> str | None:
        """The running model's version; None while the slot has no model."""
        return None if self.model is None else self.model.version

    @property
    def threshold(self) -> float | None:
        """The running anomaly model's threshold, as its decisions use it: the one figure
        every front end shows (the page, OPC UA's AnomalyThreshold); None without a model
        or for a RUL model."""
        return None if self.model is None else self.model.manifest.threshold

    def offer(self, model: Model) -> bool:
        """Swap in a new version of the file if it fits this asset; True if swapped."""
        problem = mapping_problem(model, self.kind, self.asset)
        if problem is not None:
            self.refuse(problem)
            return False
        old = self.model
        self._run(model)
        if old is None:
            logger.info("%s: %s model %s taken; the asset scores with it", self.asset.name,
                        self.kind, model.version)
        else:
            logger.info("%s: %s model %s -> %s", self.asset.name, self.kind, old.version,
                        model.version)
        return True

    def _run(self, model: Model) -> None:
        self.model = model
        self.columns = columns_of(self.asset, model)
        self.status = f"ok: {model.version}"

    def refuse(self, reason: str) -> None:
        """Keep the running model, if any; say why the new file was not taken."""
        self.status = f"rejected: {reason}"
        self.refusals += 1
        if self.model is None:
            logger.error("%s: %s model %s rejected; the asset has no %s model until a good "
                         "file is put there (hot reload, SIGHUP, the page): %s",
                         self.asset.name, self.kind, self.path, self.kind, reason)
        else:
            logger.warning("%s: %s model %s rejected, still scoring with %s: %s",
                           self.asset.name, self.kind, self.path, self.model.version, reason)


def columns_of(asset: AssetConfig, model: Model) -> list[int]:
    """Where the model's inputs are in the asset's rows (the order of its `inputs`)."""
    signals = list(asset.inputs)
    return [signals.index(signal) for signal in model.manifest.inputs]


class ModelFiles:
    """Loaded models by file, so that each file is read once however many assets use it;
    every file checked within `limits` before it is loaded."""

    def __init__(self, limits: CheckLimits) -> None:
        self.limits = limits
        self._models: dict[Path, Model] = {}
        # Why a file was refused, until it changes: each file is checked once per version.
        self._refusals: dict[Path, ModelError] = {}
        self.stamps: dict[Path, FileStamp | None] = {}

    async def check(self, data: bytes, source: str) -> Model:
        """The model file `data`, smoke-tested in a bounded child, then loaded here (which
        runs none of it); raises ModelError with the reason, naming it `source`. Start-up,
        hot reload and uploads all take this way, so the model runtime (numpy, the
        features, onnxruntime) is imported here, with the first file: a gateway without
        assets never loads it (issue #10)."""
        from analytics.inference import Model  # noqa: PLC0415
        from analytics.model_check import check_model  # noqa: PLC0415

        # Refused on its bytes first (external data, foreign operators, oversized
        # tensors): such a file never reaches onnxruntime, not even in the child.
        await asyncio.to_thread(check_model_bytes, data, source, self.limits.memory_mib * 2**20)
        await check_model(data, source, self.limits)
        return await asyncio.to_thread(Model.from_bytes, data, source)

    async def get(self, path: Path) -> Model | ModelError:
        """The model of `path`, loaded on first use, or why its file was refused."""
        known = self._models.get(path) or self._refusals.get(path)
        if known is not None:
            return known
        try:
            return await self.reload(path)
        except ModelError as exc:
            return exc

    def changed(self) -> list[Path]:
        """Files whose stamp differs from the one last loaded or refused."""
        return [
            path for path, stamp in self.stamps.items()
            if (now := FileStamp.of(path)) is not None and now != stamp
        ]

    async def reload(self, path: Path) -> Model:
        """Load the file again; raises ModelError; the stamp is updated either way."""
        self.stamps[path] = FileStamp.of(path)
        try:
            data = await asyncio.to_thread(read_model_file, path)
            model = self._models[path] = await self.check(data, str(path))
        except ModelError as exc:
            self._refusals[path] = exc
            raise
        self._refusals.pop(path, None)
        return model
