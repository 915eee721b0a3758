"""Maintenance entries while the gateway runs (issue #12): checked, stored in the
maintenance log, and made known.

Each change of an entry, once stored:
- OPC UA: `<asset>.LastMaintenance` becomes the end of the asset's latest entry (of both
  assets, when an edit moved an entry from one to another);
- MQTT: one message on `<prefix>/<gateway>/maintenance/<asset>` through the outbox;
- an entry that `resets_life`, added or edited (turned on, or its end moved), and the
  latest such entry of its asset, restarts the asset's RUL commissioning from the rows
  after its end (ScoringEngine.restart_life, saved at once). Deleting it cannot bring the
  old life back: the life goes on from the restart.
The audit log is written by the caller (the web page's facade), who knows the user.

The entry is stored first: a message the outbox refuses (a full disk) is logged, the entry
stays, and the refusal is the outbox's own (counted, on /metrics).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from gateway.core.clock import Clock
from gateway.opcua.server import OpcuaServer
from gateway.store import MessageRefused
from gateway.store.maintenance_log import (
    Draft,
    Entry,
    MaintenanceLog,
    NotStored,
    check_entry,
)

if TYPE_CHECKING:
    # paho with the one, numpy with the other: a gateway without [mqtt] or without assets
    # does not import them (issue #10).
    from gateway.mqtt.bridge import MqttBridge
    from gateway.runtime.scoring import ScoringEngine

logger = logging.getLogger(__name__)


class MaintenanceDesk:
    """The maintenance log of a running gateway and what its changes set going."""

    def __init__(
        self,
        log: MaintenanceLog,
        assets: Collection[str],
        scoring: ScoringEngine | None,  # without assets
        server: OpcuaServer,
        bridge: MqttBridge | None,
        clock: Clock,
    ) -> None:
        self.log = log
        self.assets = frozenset(assets)
        self._scoring = scoring
        self._server = server
        self._bridge = bridge
        self._clock = clock
        self._shown = False  # every asset's LastMaintenance is shown

    async def show_latest(self) -> None:
        """Show every asset's LastMaintenance from the log; while the log cannot be read (a
        start on a full disk) they wait for initial data, and `retry` tries again."""
        try:
            latest = await self.log.latest_finished()
        except NotStored as error:
            logger.debug("LastMaintenance not shown yet: %s", error)
            return
        for asset in sorted(self.assets):
            self._server.publish_maintenance(asset, latest.get(asset))
        self._shown = True

    async def retry(self) -> None:
        """Show LastMaintenance if the log could not be read before (storage retries)."""
        if not self._shown:
            await self.show_latest()

    async def add(self, draft: Draft, user: str) -> Entry:
        """Check and store a new entry of `user`'s. InvalidEntry, NotStored."""
        check_entry(draft, self.assets, self._clock.now())
        entry = await self.log.add(draft, user)
        await self._made_known("added", entry, restart=draft.resets_life)
        return entry

    async def change(self, number: int, draft: Draft, user: str) -> tuple[Entry, Entry]:
        """Check and store entry `number` as `draft`: (before, after). InvalidEntry,
        UnknownEntry, NotStored."""
        check_entry(draft, self.assets, self._clock.now())
        before, after = await self.log.update(number, draft, user)
        renewed = draft.resets_life and not (
            before.draft.resets_life
            and before.draft.finished == draft.finished
            and before.draft.asset == draft.asset
        )
        await self._made_known("changed", after, restart=renewed, also=before.draft.asset)
        return before, after

    async def delete(self, number: int, user: str) -> Entry:
        """Delete entry `number`; the entry as it was. UnknownEntry, NotStored."""
        entry = await self.log.delete(number)
        gone = dataclasses.replace(entry, changed_by=user, changed=self._clock.now())
        await self._made_known("deleted", gone, restart=False)
        return entry

    async def _made_known(
        self, change: str, entry: Entry, *, restart: bool, also: str | None = None
    ) -> None:
        asset = entry.draft.asset
        if restart and self._scoring is not None and await self._latest_renewal(entry):
            await self._scoring.restart_life(asset, entry.draft.finished)
        await self._show(asset, also)
        if self._bridge is not None:
            try:
                await self._bridge.publish_maintenance(change, entry, entry.changed)
            except MessageRefused as refused:
                logger.warning(
                    "maintenance entry %d of %r (%s) not sent over MQTT: %s",
                    entry.id,
                    asset,
                    change,
                    refused,
                )

    async def _latest_renewal(self, entry: Entry) -> bool:
        """True when no other entry of the asset renewed it later than `entry` did."""
        renewals = [
            e.draft.finished
            for e in await self.log.entries(assets=[entry.draft.asset])
            if e.draft.resets_life and e.id != entry.id
        ]
        return all(finished <= entry.draft.finished for finished in renewals)

    async def _show(self, asset: str, also: str | None) -> None:
        try:
            latest = await self.log.latest_finished()
        except NotStored as error:
            logger.debug("LastMaintenance of %r not shown: %s", asset, error)
            self._shown = False
            return
        for name in {asset, also or asset}:
            if name in self.assets:
                self._server.publish_maintenance(name, latest.get(name))
