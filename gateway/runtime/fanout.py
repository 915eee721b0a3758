"""What the poll loops and the scoring loop produce, handed to every part that takes it:
the tag cache, the OPC UA server, the alarms and the history.

Issue #17: each sink's failure is contained (gateway.core.failures): counted, logged once,
shown as failing, and neither the poll loops nor the other sinks stop for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from gateway.alarms.hub import AlarmHub
from gateway.core.failures import Failures
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.runtime.history_keeper import HistoryKeeper
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.score_cache import ScoreCache
from gateway.runtime.tag_cache import TagCache

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    """The OPC UA server as the fan-out feeds it (gateway.opcua.server.OpcuaServer)."""

    def publish(self, samples: Sequence[Sample]) -> None: ...

    def publish_scores(self, scores: Sequence[Score]) -> None: ...

    def publish_status(self, status: DeviceStatus) -> None: ...

    def publish_model(
        self, asset: str, kind: str, version: str | None, status: str, threshold: float | None
    ) -> None: ...


class EdgeNode(Protocol):
    """The Sparkplug edge node as the fan-out feeds it (gateway.sparkplug.node, issue #16)."""

    def samples(self, samples: Sequence[Sample]) -> None: ...

    def scores(self, scores: Sequence[Score]) -> None: ...

    def status(self, status: DeviceStatus) -> None: ...


class HistoryExport(Protocol):
    """A copy of the history elsewhere (gateway.export.exporter, issue #16)."""

    def samples(self, samples: Sequence[Sample]) -> None: ...

    def scores(self, scores: Sequence[Score]) -> None: ...


class Fanout:
    """Samples, device statuses, scores and model changes to their sinks, in order; the
    history, the Sparkplug edge node and the export only when they are configured."""

    def __init__(
        self,
        cache: TagCache,
        scores: ScoreCache,
        server: Publisher,
        hub: AlarmHub,
        history: HistoryKeeper | None,
        edge: EdgeNode | None = None,
        export: HistoryExport | None = None,
    ) -> None:
        self.failures = Failures("sink", logger)
        self._edge = edge
        self._export = export
        self._cache = cache
        self._scores = scores
        self._server = server
        self._hub = hub
        self._history = history

    # The sinks' methods are looked up at each call, not bound once: a part replaced while
    # the gateway runs (as a test does to break one) is the one fed.
    def samples(self, samples: Sequence[Sample]) -> None:
        """The poll loops' samples, on their hot path."""
        failures = self.failures
        failures.call("cache", self._cache.update, samples)
        failures.call("opcua", self._server.publish, samples)
        failures.call("alarms", self._hub.observe_samples, samples)
        if self._history is not None:
            failures.call("history", self._history.record_samples, samples)
        if self._edge is not None:
            failures.call("sparkplug", self._edge.samples, samples)
        if self._export is not None:
            failures.call("export", self._export.samples, samples)

    def scores(self, scores: Sequence[Score]) -> None:
        """The assets' model outputs."""
        self._scores.update(scores)
        failures = self.failures
        failures.call("opcua-scores", self._server.publish_scores, scores)
        failures.call("alarms-scores", self._hub.observe_scores, scores)
        if self._history is not None:
            failures.call("history-scores", self._history.record_scores, scores)
        if self._edge is not None:
            failures.call("sparkplug-scores", self._edge.scores, scores)
        if self._export is not None:
            failures.call("export-scores", self._export.scores, scores)

    def status(self, status: DeviceStatus) -> None:
        """A device's link status."""
        self.failures.call("opcua-status", self._server.publish_status, status)
        if self._edge is not None:
            self.failures.call("sparkplug-status", self._edge.status, status)

    def model(self, slot: ModelSlot) -> None:
        """A model slot that took or refused a file."""
        self._server.publish_model(slot.asset.name, slot.kind, slot.version, slot.status,
                                   slot.threshold)
