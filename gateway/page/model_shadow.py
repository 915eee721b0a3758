"""Candidates in shadow, their agreement with the experts, and their activation or discard
(issue #12), for the Models page, its API and `uvelka report`.

A candidate is an archived version of an asset's model file that does not run; the model
manager checks it as it checks an upload (`ModelManager.candidate`) before it goes into
the asset's scorer as a shadow (gateway.runtime.shadow). The choice is kept in the model
timeline (`<data_dir>/shadow.json`, gateway.store.model_timeline) with the periods each
version ran, active or in shadow, and the asset's anomaly alarm delays: a restart puts
the shadows back, and the agreement view attributes each output to its version.

Activation is the model manager's (the validated hot swap, with roll back); activating
the candidate in shadow stops its shadow once the slot runs it. Stop ends the shadow and
keeps the version a candidate; discard stops the shadow and marks the version discarded in
the archive (never the running one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.alarms.hub import AlarmHub
from gateway.config.sources import SourceKind
from gateway.core.clock import Clock
from gateway.core.storage import StorageHealth
from gateway.page.agreement import (
    AGREEMENT_RANGE,
    AgreementError,
    agreement_in_thread,
    default_range,
)
from gateway.page.model_manager import ModelManager, ModelRequestError
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.shadow import ShadowSlot
from gateway.store.model_timeline import FILE_NAME, AlarmDelays, ModelTimeline, ShadowChoice

if TYPE_CHECKING:
    # numpy with it: only a gateway with assets scores them (issue #10).
    from gateway.runtime.scoring import AssetScorer, ScoringEngine

logger = logging.getLogger(__name__)

STORE = "model timeline"  # its name in StorageHealth, /metrics and the page
RETRY_S = 5.0


class ShadowModels:
    """The shadows of a serving gateway and the timeline they are recorded in."""

    def __init__(
        self,
        data_dir: Path,
        timeline: ModelTimeline,
        manager: ModelManager,
        scoring: ScoringEngine | None,
        history_on: bool,
        clock: Clock,
        health: StorageHealth,
    ) -> None:
        """Use `ShadowModels.open`."""
        self._data_dir = data_dir
        self.timeline = timeline
        self._manager = manager
        self._scoring = scoring
        self._history_on = history_on
        self._clock = clock
        self._health = health
        self._dirty = asyncio.Event()

    @classmethod
    async def open(
        cls,
        data_dir: Path,
        manager: ModelManager,
        scoring: ScoringEngine | None,
        slots: Sequence[ModelSlot],
        hub: AlarmHub,
        history_on: bool,
        clock: Clock,
        health: StorageHealth,
    ) -> ShadowModels:
        """The timeline of `data_dir` with the running versions and alarm delays recorded,
        and the shadows chosen before the restart put back (one that cannot be is logged
        and left out)."""
        timeline = await asyncio.to_thread(ModelTimeline.read, data_dir / FILE_NAME)
        for name, alarm in hub.alarms.items():
            source = hub.sources[name]
            if source.kind is SourceKind.ASSET and source.name == "Anomaly":
                # The delays this start's alarm applies, for episodes counted as it raises.
                timeline.alarms[source.owner] = AlarmDelays(
                    alarm.rule.on_delay_s, alarm.rule.off_delay_s
                )
        shadows = cls(data_dir, timeline, manager, scoring, history_on, clock, health)
        for slot in slots:
            shadows.slot_changed(slot)
        for choice in list(timeline.shadows):
            try:
                await shadows._start(choice)
            except ModelRequestError as exc:
                logger.warning(
                    "%s: the %s model %s is not put back in shadow: %s",
                    choice.asset,
                    choice.kind,
                    choice.version,
                    exc,
                )
                shadows._forget(choice.asset, choice.kind)
        shadows._dirty.set()
        return shadows

    def slot_changed(self, slot: ModelSlot) -> None:
        """A slot took or refused a file (the model watcher's sink): its period."""
        if self.timeline.begin(
            slot.asset.name, slot.kind, "active", slot.version, self._clock.now()
        ):
            self._dirty.set()

    def shadow_of(self, asset: str, kind: str) -> dict[str, Any] | None:
        """The candidate in shadow for the asset's `kind` model, as the page shows it."""
        scorer = self._scorer_or_none(asset)
        shadow = None if scorer is None else scorer.shadows.get(kind)
        if shadow is None:
            return None
        choice = next(
            (c for c in self.timeline.shadows if (c.asset, c.kind) == (asset, kind)), None
        )
        return {
            "version": shadow.version,
            "status": shadow.status,
            "batches": shadow.batches,
            "failures": shadow.failures,
            "since": None if choice is None else choice.since.isoformat(),
            "by": None if choice is None else choice.by,
        }

    async def start(self, asset: str, kind: str, version: str, user: str) -> str:
        """Put the candidate `version` in shadow (in place of another); its status.
        Raises ModelRequestError."""
        if not self._history_on:
            raise ModelRequestError(
                "the history is off ([history] enabled = false): a "
                "shadow's outputs are kept in the history only"
            )
        shadow = await self._start(ShadowChoice(asset, kind, version, self._clock.now(), user))
        await self._save_now()
        logger.info("%s: %r put the %s model %s in shadow", asset, user, kind, version)
        return shadow.status

    async def stop(self, asset: str, kind: str, version: str, user: str) -> str:
        """Stop the candidate's shadow; it stays a candidate in the archive, to be put in
        shadow or activated later. Raises ModelRequestError when it is not in shadow."""
        scorer = self._scorer(asset)
        running = scorer.shadows.get(kind)
        if running is None or running.version != version:
            now = "nothing" if running is None else running.version
            raise ModelRequestError(
                f"{version} is not in shadow for {asset}'s {kind} model (in shadow: {now})"
            )
        self._stop(asset, kind)
        await self._save_now()
        logger.info("%s: %r stopped the shadow of the %s model %s", asset, user, kind, version)
        return f"{version} out of shadow; kept as a candidate"

    async def discard(self, asset: str, kind: str, version: str, user: str) -> str:
        """Stop the candidate's shadow, if it runs, and mark it discarded in the archive."""
        await self._manager.discard(asset, kind, version, user)
        scorer = self._scorer_or_none(asset)
        if (
            scorer is not None
            and (running := scorer.shadows.get(kind)) is not None
            and running.version == version
        ):
            self._stop(asset, kind)
            await self._save_now()
        return f"{version} discarded"

    async def activate(self, asset: str, kind: str, version: str, user: str) -> str:
        """The model manager's activation; a candidate in shadow that the slot then runs
        leaves the shadow. The slot's status."""
        status = await self._manager.activate(asset, kind, version, user)
        scorer = self._scorer_or_none(asset)
        shadow = None if scorer is None else scorer.shadows.get(kind)
        if (
            shadow is not None
            and shadow.version == version
            and self._manager.runs(asset, kind, version)
        ):
            self._stop(asset, kind)
            await self._save_now()
        return status

    async def agreement(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> dict[str, Any]:
        """The agreement view of `asset` (gateway.page.agreement); raises AgreementError,
        ExportError (no history file)."""
        if self._scorer_or_none(asset) is None:
            raise AgreementError(f"no asset {asset!r} with models")
        first, now = default_range(self.timeline, asset, self._clock.now(), AGREEMENT_RANGE)
        snapshot = replace(
            self.timeline,
            periods=list(self.timeline.periods),
            shadows=list(self.timeline.shadows),
            alarms=dict(self.timeline.alarms),
        )
        return await agreement_in_thread(
            self._data_dir, asset, snapshot, start or first, end or now
        )

    async def run(self) -> None:
        """Write the timeline whenever it changed; a failed write is reported and tried
        again (the shadows run on meanwhile)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not await self._save_now():
                await asyncio.sleep(RETRY_S)

    async def _start(self, choice: ShadowChoice) -> ShadowSlot:
        scorer = self._scorer(choice.asset)
        slot, model = await self._manager.candidate(choice.asset, choice.kind, choice.version)
        shadow = ShadowSlot(slot.asset, choice.kind, choice.version, model)
        scorer.put_shadow(shadow)
        timeline = self.timeline
        timeline.begin(choice.asset, choice.kind, "shadow", choice.version, self._clock.now())
        timeline.shadows = [
            c for c in timeline.shadows if (c.asset, c.kind) != (choice.asset, choice.kind)
        ] + [choice]
        return shadow

    def _stop(self, asset: str, kind: str) -> None:
        scorer = self._scorer(asset)
        shadow = scorer.drop_shadow(kind)
        if shadow is not None:
            logger.info("%s: the %s model %s leaves the shadow", asset, kind, shadow.version)
        self._forget(asset, kind)

    def _forget(self, asset: str, kind: str) -> None:
        timeline = self.timeline
        timeline.begin(asset, kind, "shadow", None, self._clock.now())
        timeline.shadows = [c for c in timeline.shadows if (c.asset, c.kind) != (asset, kind)]
        self._dirty.set()

    async def _save_now(self) -> bool:
        """Write the timeline; False (reported, to be tried again) when it cannot be."""
        try:
            await asyncio.to_thread(self.timeline.save)
        except Exception as error:
            self._health.absorb(STORE, f"save {self.timeline.path}", error)
            self._dirty.set()
            return False
        self._health.ok(STORE)
        return True

    def _scorer_or_none(self, asset: str) -> AssetScorer | None:
        if self._scoring is None:
            return None
        return next((s for s in self._scoring.scorers if s.config.name == asset), None)

    def _scorer(self, asset: str) -> AssetScorer:
        scorer = self._scorer_or_none(asset)
        if scorer is None:
            raise ModelRequestError(f"no asset {asset!r} with models")
        return scorer
