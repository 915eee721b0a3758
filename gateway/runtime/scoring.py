"""The asset scoring loop: sample input tags into ring buffers, score models off the loop.

Each asset appends one row per `interval` (the latest value of each mapped tag, NaN where
it has no usable value) and each of its models scores the newest `window.length` rows
every `window.step` rows. Everything due at one tick is scored in one call off the event
loop, batched per model file, so the loop never waits for onnxruntime.

Quality of an output is the worst quality of the rows in its window: Good only when every
input was Good in every row; Uncertain (last usable) when some input was last-usable;
otherwise the Bad quality of the worst input, with no value. A window that is not full
yet scores nothing and the outputs stay waiting for initial data. A RUL model whose
manifest has an interval (issue #13) gives its Low and High with each usable value. A
slot without a model (its file refused at start, issue #17) scores nothing; the asset
samples on, so that the model it takes later finds its window filling (the buffer grows to
that model's window).

Each model file's scoring time (features and inference of its batch, timed in the worker
thread) is kept per file in `ScoringEngine.inference`, for /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from analytics.features import extract
from analytics.inference import Model
from analytics.rul_features import RulFeatureSpec, RulState, rul_features
from gateway.config.model import AssetConfig
from gateway.core.clock import Clock, SystemClock
from gateway.core.files import in_thread
from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.runtime.asset_state import AssetStateStore
from gateway.runtime.asset_window import AssetWindow, Window
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.tag_cache import TagCache

logger = logging.getLogger(__name__)


ScoreSink = Callable[[Sequence[Score]], None]


@dataclass
class InferenceStats:
    """Scoring time of one model file since start: batches, windows, seconds in all, and
    the last and longest batch."""

    batches: int = 0
    windows: int = 0
    total_s: float = 0.0
    last_s: float = 0.0
    max_s: float = 0.0

    def add(self, seconds: float, windows: int) -> None:
        self.batches += 1
        self.windows += windows
        self.total_s += seconds
        self.last_s = seconds
        self.max_s = max(self.max_s, seconds)


@dataclass(frozen=True, slots=True)
class BatchTime:
    """How long one model file's batch took (features and inference) for `windows` jobs."""

    file: str
    seconds: float
    windows: int


@dataclass(frozen=True, slots=True)
class Job:
    """One model to score on one asset's window; `values` has the model's input columns.

    A RUL model's features also need the asset's commissioning baseline and sample count,
    taken when the job is made: the thread that scores must not read state the event
    loop keeps updating.
    """

    scorer: AssetScorer
    kind: str
    model: Model
    window: Window
    values: np.ndarray
    quality: Quality
    baseline: np.ndarray = field(default_factory=lambda: np.empty(0))  # RUL models only
    cycle: int = 0


class AssetScorer:
    """One asset: its ring buffer and its model slots."""

    def __init__(self, config: AssetConfig, slots: Sequence[ModelSlot]) -> None:
        self.config = config
        self.slots = list(slots)
        self.signals = list(config.inputs)
        self._tags = [config.inputs[signal] for signal in self.signals]
        capacity = max((slot.model.manifest.window.length for slot in self.slots
                        if slot.model is not None), default=1)
        self.window = AssetWindow(capacity, len(self.signals))
        self._rows_at_score = {slot.kind: 0 for slot in self.slots}
        self._hold_left = 0
        self._rul_states: dict[str, RulState] = {}

    def sample(self, cache: TagCache, now: datetime) -> None:
        """Append one row from the latest tag values, once every input has been read.

        Rows from before the first read of an input (just started) would only fill the
        window with waiting rows; a RUL model would also count them as its asset's life.
        """
        latest = [cache.get(key) for key in self._tags]
        if any(quality is Quality.WAITING for _, quality in latest):
            return
        row = np.empty(len(self._tags))
        worst = Quality.GOOD
        for i, (value, quality) in enumerate(latest):
            usable = quality <= Quality.LAST_USABLE and isinstance(value, int | float)
            row[i] = float(value) if usable else math.nan  # type: ignore[arg-type]
            worst = max(worst, quality)
        self.window.append(row, worst, now)
        for slot in self.slots:
            spec = None if slot.model is None else slot.model.manifest.rul_features
            if spec is not None:
                self._rul_state(slot.kind, spec).update(row[slot.columns])

    @property
    def rul_states(self) -> dict[str, RulState]:
        """The RUL commissioning state per model kind, to persist."""
        return dict(self._rul_states)

    def restore(self, kind: str, state: RulState) -> None:
        """Continue a saved life (after a restart); ignored by a model it does not fit."""
        self._rul_states[kind] = state

    def restart_life(self, since: datetime) -> list[str]:
        """Commission the asset's RUL models anew (a maintenance entry renewed it, issue
        #12): each one's life and baseline start again, learnt from the rows appended after
        `since` that the buffer still holds, then from every row to come. The model kinds
        restarted (none without a RUL model)."""
        restarted = []
        for slot in self.slots:
            model, columns = slot.model, slot.columns
            spec = None if model is None else model.manifest.rul_features
            if spec is None:
                continue
            state = self._rul_states[slot.kind] = RulState.for_spec(spec)
            for row in self.window.rows_after(since):
                state.update(row[columns])
            restarted.append(slot.kind)
        return restarted

    def _rul_state(self, kind: str, spec: RulFeatureSpec) -> RulState:
        state = self._rul_states.get(kind)
        if state is None or not state.compatible(spec):
            if state is not None:
                logger.warning("%s: the %s model has other inputs; its life starts anew",
                               self.config.name, kind)
            state = self._rul_states[kind] = RulState.for_spec(spec)
        return state

    def due(self) -> list[Job]:
        """A job for each model slot whose next window is complete."""
        jobs = []
        for slot in self.slots:
            # Pinned together: a hot reload may swap the slot before scoring.
            model, columns = slot.model, slot.columns
            if model is None:
                continue
            spec = model.manifest.window
            self.window.grow(spec.length)
            if self.window.rows - self._rows_at_score[slot.kind] < spec.step:
                continue
            rul = model.manifest.rul_features
            if rul is None:
                window = self.window.latest(spec.length)
                if window is not None:
                    values = window.values[:, columns]
                    jobs.append(Job(self, slot.kind, model, window, values, window.quality))
            else:
                jobs += self._rul_job(slot.kind, model, columns, rul)
            self._rows_at_score[slot.kind] = self.window.rows
        return jobs

    def _rul_job(
        self, kind: str, model: Model, columns: list[int], spec: RulFeatureSpec
    ) -> list[Job]:
        """A RUL job on every sample since commissioning (at most the buffer), partial early.

        Uncertain at best until the commissioning baseline is complete, or while a restart
        left fewer rows in the buffer than the model expects (analytics/README.md).
        """
        state = self._rul_state(kind, spec)
        window = self.window.latest(min(state.cycle, spec.buffer, self.window.rows))
        if window is None or state.cycle == 0:
            return []
        quality = window.quality
        if not state.baseline_complete or len(window.values) < spec.expected_rows(state.cycle):
            quality = max(quality, Quality.LAST_USABLE)
        values = window.values[:, columns]
        return [Job(self, kind, model, window, values, quality,
                    state.baseline(spec), state.cycle)]

    def decide(self, model: Model, score: float) -> bool:
        """The anomaly decision: above threshold, or held for `hold` windows after it."""
        manifest = model.manifest
        if manifest.threshold is not None and score > manifest.threshold:
            self._hold_left = manifest.hold
            return True
        if self._hold_left > 0:
            self._hold_left -= 1
            return True
        return False


class ScoringEngine:
    """All assets' scorers on one schedule."""

    def __init__(
        self,
        scorers: Sequence[AssetScorer],
        cache: TagCache,
        sink: ScoreSink,
        clock: Clock | None = None,
        store: AssetStateStore | None = None,
        save_every_s: float = 60.0,
    ) -> None:
        self.scorers = list(scorers)
        self._store = store
        self._save_every_s = save_every_s
        if store is not None:
            for scorer in self.scorers:
                for slot in scorer.slots:
                    # A rul slot without a model (refused at start, issue #17) keeps its
                    # asset's life for the model it takes later, if that model fits it.
                    model = slot.model
                    if slot.kind == "rul" and (model is None
                                               or model.manifest.rul_features is not None):
                        state = store.load(scorer.config.name, slot.kind)
                        if state is not None:
                            scorer.restore(slot.kind, state)
        self._cache = cache
        self._sink = sink
        self._clock = clock or SystemClock()
        self.batches = 0
        # Updated on the event loop from what the worker thread timed; read by /metrics.
        self.inference: dict[str, InferenceStats] = {}

    async def run(self) -> None:
        """Sample and score until cancelled; the RUL states are saved on the way out."""
        if not self.scorers:
            return
        try:
            await self._run()
        finally:
            if self._store is not None:
                self._store.save(self._states())  # small files; the loop is ending anyway

    async def restart_life(self, asset: str, since: datetime) -> list[str]:
        """Restart `asset`'s RUL commissioning from the rows after `since` (AssetScorer.
        restart_life) and save the states at once, so that a restart of the gateway keeps
        the new life. The kinds restarted; KeyError for an asset not scored here."""
        scorer = next((s for s in self.scorers if s.config.name == asset), None)
        if scorer is None:
            raise KeyError(asset)
        kinds = scorer.restart_life(since)
        if kinds:
            logger.info("%s: %s commissioning restarted from the rows after %s", asset,
                        " and ".join(kinds), since.isoformat())
            if self._store is not None:
                await in_thread(self._store.save, self._states())  # reports a failed write
        return kinds

    def _states(self) -> dict[tuple[str, str], RulState]:
        return {
            (scorer.config.name, kind): state
            for scorer in self.scorers
            for kind, state in scorer.rul_states.items()
        }

    async def _run(self) -> None:
        start = last_save = self._clock.monotonic()
        next_sample = {scorer.config.name: start for scorer in self.scorers}
        while True:
            now_mono = self._clock.monotonic()
            due = [s for s in self.scorers if next_sample[s.config.name] <= now_mono]
            now = self._clock.now()
            for scorer in due:
                scorer.sample(self._cache, now)
                next_sample[scorer.config.name] += scorer.config.interval
                if next_sample[scorer.config.name] <= now_mono:  # fell behind: skip, not burst
                    next_sample[scorer.config.name] = now_mono + scorer.config.interval
            jobs = [job for scorer in due for job in scorer.due()]
            if jobs:
                await self._score(jobs)
            if self._store is not None and now_mono - last_save >= self._save_every_s:
                last_save = now_mono
                await in_thread(self._store.save, self._states())  # stops after the write
            await asyncio.sleep(max(0.0, min(next_sample.values()) - self._clock.monotonic()))

    async def _score(self, jobs: list[Job]) -> None:
        times: list[BatchTime] = []
        try:
            values = await asyncio.to_thread(_score_batches, jobs, times)
        except asyncio.CancelledError:
            # The thread cannot be cancelled: a model stuck in an inference would keep it,
            # and so the process, from ending on SIGTERM (issue #17). Stop the models.
            for job in jobs:
                job.model.close()
            raise
        self.batches += 1
        for batch in times:
            self.inference.setdefault(batch.file, InferenceStats()).add(batch.seconds,
                                                                        batch.windows)
        scored_at = self._clock.now()
        self._sink([
            _result(job, value, scored_at) for job, value in zip(jobs, values, strict=True)
        ])


def _result(job: Job, value: float, scored_at: datetime) -> Score:
    quality = job.quality
    if quality <= Quality.LAST_USABLE and not math.isfinite(value):
        # Usable inputs but no finite score: an input that is not a number, or a model
        # that misbehaves; never show it as a good value.
        quality = Quality.CONFIG_ERROR
    usable = quality <= Quality.LAST_USABLE
    decision = job.scorer.decide(job.model, value) if usable and job.kind == "anomaly" else None
    bounds = job.model.manifest.rul_interval
    interval = None
    if usable and bounds is not None:
        low, high = bounds.bounds(np.array([value]))
        interval = (float(low[0]), float(high[0]))
    return Score(
        asset=job.scorer.config.name,
        kind=job.kind,
        value=value if usable else None,
        anomaly=decision,
        quality=quality,
        window_end=job.window.end_time,
        scored_at=scored_at,
        model_version=job.model.version,
        interval=interval,
    )


def _score_batches(jobs: list[Job], times: list[BatchTime] | None = None) -> list[float]:
    """Features and scores of every job, one extract and one inference per model (in a
    thread); appends to `times` how long each model's batch took."""
    by_model: dict[int, list[int]] = defaultdict(list)
    for index, job in enumerate(jobs):
        by_model[id(job.model)].append(index)
    values = [math.nan] * len(jobs)
    for indices in by_model.values():
        started = time.perf_counter()
        first = jobs[indices[0]]
        model = first.model
        rul = model.manifest.rul_features
        if rul is None:
            windows = np.stack([jobs[i].values for i in indices])
            features = extract(windows, kinds=model.manifest.feature_kinds)
        else:
            features = np.stack([
                rul_features(jobs[i].values, jobs[i].baseline, jobs[i].cycle, rul)
                for i in indices
            ])
        for i, value in zip(indices, model.score(features), strict=True):
            values[i] = float(value)
        if times is not None:
            # The file as the asset names it: the label a reader finds in the config.
            file = first.scorer.config.models()[first.kind]
            times.append(BatchTime(file, time.perf_counter() - started, len(indices)))
    return values
