"""What an asset's models must remember across restarts: the RUL commissioning state.

A RUL model counts its asset's samples since commissioning and keeps the commissioning
baseline; losing them on a restart would restart the asset's life. They are written as
small JSON files under `<data_dir>/assets/`, atomically and synced (gateway.core.files),
and read back at start.

A save that fails (a full disk, issue #17) is reported to the StorageHealth and never
stops the gateway: the scoring engine saves every state again at its next periodic save.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from analytics.rul_features import RulState
from gateway.core.files import write_atomically
from gateway.core.storage import StorageHealth

logger = logging.getLogger(__name__)

STORE = "asset states"  # its name in StorageHealth, /metrics and the page


class AssetStateStore:
    """One JSON file per asset and model kind."""

    def __init__(self, folder: Path, health: StorageHealth | None = None) -> None:
        self.folder = folder
        self._health = health or StorageHealth(folder.parent)

    def path(self, asset: str, kind: str) -> Path:
        return self.folder / f"{asset}.{kind}.json"

    def load(self, asset: str, kind: str) -> RulState | None:
        """The saved state, or None when there is none or it is damaged (logged)."""
        path = self.path(asset, kind)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return RulState.from_dict(raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("%s: cannot restore the %s state from %s, starting anew: %s",
                           asset, kind, path, exc)
            return None

    def save(self, states: Mapping[tuple[str, str], RulState]) -> None:
        """Write every (asset, kind) state; blocking: call it off the event loop when running.
        A failed write is reported, and the next save writes the state again."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for (asset, kind), state in states.items():
                self._write(asset, kind, state)
        except Exception as error:
            self._health.absorb(STORE, f"save the asset states in {self.folder}", error)
            return
        self._health.ok(STORE)

    def _write(self, asset: str, kind: str, state: RulState) -> None:
        # Synced like every file the gateway keeps: losing it restarts the asset's life.
        write_atomically(self.path(asset, kind), json.dumps(state.to_dict()).encode("utf-8"))
