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

A candidate in shadow (gateway.runtime.shadow, issue #12) scores on the schedule of its
own window like a slot, in a batch of its own after the active models' batch; its scores
go to `shadow_sink` (the history) alone, and its failure never reaches the active models.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
from gateway.runtime.shadow import SHADOW, ShadowSlot, shadow_asset
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
    shadow: ShadowSlot | None = None  # a candidate in shadow, not the active model

    @property
    def key(self) -> str:
        """Its schedule, hold and RUL state among the asset's models."""
        return self.kind if self.shadow is None else self.shadow.key


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
        self._hold_left: dict[str, int] = {}
        self._rul_states: dict[str, RulState] = {}
        self.shadows: dict[str, ShadowSlot] = {}  # by kind

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
        # Stamped to the millisecond the history keeps: the outputs' SourceTimestamp, which
        # the alarms debounce on, is then the time the agreement view replays them at, so
        # that a delay of whole intervals is met on the same row by both; with the
        # microseconds it was met on this row or the next by a margin the history drops
        # (issue #12).
        self.window.append(row, worst, now.replace(microsecond=now.microsecond // 1000 * 1000))
        for slot in self.slots:
            spec = None if slot.model is None else slot.model.manifest.rul_features
            if spec is not None:
                self._rul_state(slot.kind, spec).update(row[slot.columns])
        for shadow in self.shadows.values():
            spec = shadow.model.manifest.rul_features
            if spec is not None and self._shadow_rul_key(shadow) == shadow.key:
                self._rul_state(shadow.key, spec).update(row[shadow.columns])

    @property
    def rul_states(self) -> dict[str, RulState]:
        """The RUL commissioning state per model kind, to persist (not a shadow's: it
        starts again with the shadow)."""
        return {k: v for k, v in self._rul_states.items() if not k.startswith(SHADOW)}

    def put_shadow(self, shadow: ShadowSlot) -> None:
        """Score `shadow` beside the active model of its kind, from the next window on."""
        self.shadows[shadow.kind] = shadow
        self._rows_at_score[shadow.key] = self.window.rows
        self._hold_left.pop(shadow.key, None)
        self._rul_states.pop(shadow.key, None)

    def drop_shadow(self, kind: str) -> ShadowSlot | None:
        """Stop the shadow of `kind`, if any; it scores no window after this."""
        return self.shadows.pop(kind, None)

    def _shadow_rul_key(self, shadow: ShadowSlot) -> str:
        """A shadow RUL model shares the asset's life when it reads it as the active one
        does; otherwise its own life starts with the shadow."""
        spec = shadow.model.manifest.rul_features
        active = self._rul_states.get("rul")
        if spec is not None and active is not None and active.compatible(spec):
            return "rul"
        return shadow.key

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
        """A job for each model slot, and each shadow, whose next window is complete."""
        jobs = []
        for slot in self.slots:
            # Pinned together: a hot reload may swap the slot before scoring.
            model, columns = slot.model, slot.columns
            if model is not None:
                jobs += self._jobs(slot.kind, slot.kind, model, columns, None)
        for shadow in list(self.shadows.values()):
            jobs += self._jobs(shadow.key, shadow.kind, shadow.model, shadow.columns, shadow)
        return jobs

    def _jobs(self, key: str, kind: str, model: Model, columns: list[int],
              shadow: ShadowSlot | None) -> list[Job]:
        spec = model.manifest.window
        self.window.grow(spec.length)
        if self.window.rows - self._rows_at_score[key] < spec.step:
            return []
        self._rows_at_score[key] = self.window.rows
        rul = model.manifest.rul_features
        if rul is not None:
            state_key = kind if shadow is None else self._shadow_rul_key(shadow)
            return self._rul_job(kind, state_key, model, columns, rul, shadow)
        window = self.window.latest(spec.length)
        if window is None:
            return []
        return [Job(self, kind, model, window, window.values[:, columns], window.quality,
                    shadow=shadow)]

    def _rul_job(
        self, kind: str, state_key: str, model: Model, columns: list[int], spec: RulFeatureSpec,
        shadow: ShadowSlot | None,
    ) -> list[Job]:
        """A RUL job on every sample since commissioning (at most the buffer), partial early.

        Uncertain at best until the commissioning baseline is complete, or while a restart
        left fewer rows in the buffer than the model expects (analytics/README.md).
        """
        state = self._rul_state(state_key, spec)
        window = self.window.latest(min(state.cycle, spec.buffer, self.window.rows))
        if window is None or state.cycle == 0:
            return []
        quality = window.quality
        if not state.baseline_complete or len(window.values) < spec.expected_rows(state.cycle):
            quality = max(quality, Quality.LAST_USABLE)
        values = window.values[:, columns]
        return [Job(self, kind, model, window, values, quality,
                    state.baseline(spec), state.cycle, shadow)]

    def decide(self, model: Model, score: float, key: str = "anomaly") -> bool:
        """The anomaly decision: above threshold, or held for `hold` windows after it (a
        hold of its own for the model of `key`: the active one or the shadow)."""
        manifest = model.manifest
        if manifest.threshold is not None and score > manifest.threshold:
            self._hold_left[key] = manifest.hold
            return True
        if self._hold_left.get(key, 0) > 0:
            self._hold_left[key] -= 1
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
        shadow_sink: ScoreSink | None = None,
    ) -> None:
        self.scorers = list(scorers)
        self._shadow_sink = shadow_sink
        # The candidates' batch runs beside the loop; one at a time (kept: see run).
        self._shadow_task: asyncio.Task[None] | None = None
        self.shadow_skipped = 0  # shadow windows not scored: the last batch still ran
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
            if self._shadow_task is not None:
                self._shadow_task.cancel()
                await asyncio.wait({self._shadow_task})  # its own CancelledError stays there
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

    async def _score(self, all_jobs: list[Job]) -> None:
        jobs = [job for job in all_jobs if job.shadow is None]
        if jobs:
            await self._score_active(jobs)
        shadows = [job for job in all_jobs if job.shadow is not None]
        if not shadows:
            return
        if self._shadow_task is not None and not self._shadow_task.done():
            # A slow candidate skips windows; it never holds the active models back.
            self.shadow_skipped += len(shadows)
            return
        self._shadow_task = asyncio.create_task(self._score_shadows(shadows),
                                                name="shadow-scoring")

    async def _score_active(self, jobs: list[Job]) -> None:
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

    async def _score_shadows(self, jobs: list[Job]) -> None:
        """Candidates in shadow, after the active models: a failure stays theirs."""
        try:
            values = await asyncio.to_thread(_score_batches, jobs)
        except asyncio.CancelledError:
            for job in jobs:
                job.model.close()
            raise
        except Exception as error:  # the candidate's own fault: shown in its status
            for shadow in {id(job.shadow): job.shadow for job in jobs}.values():
                if shadow is not None:
                    shadow.failed(error)
            return
        scored_at = self._clock.now()
        results = []
        for job, value in zip(jobs, values, strict=True):
            if (shadow := job.shadow) is None:
                continue
            if math.isfinite(value):
                shadow.scored()
            elif job.quality <= Quality.LAST_USABLE:
                shadow.failed(ValueError(f"no finite score ({value})"))
            results.append(replace(_result(job, value, scored_at),
                                   asset=shadow_asset(job.scorer.config.name)))
        if self._shadow_sink is not None:
            self._shadow_sink(results)


def _result(job: Job, value: float, scored_at: datetime) -> Score:
    quality = job.quality
    if quality <= Quality.LAST_USABLE and not math.isfinite(value):
        # Usable inputs but no finite score: an input that is not a number, or a model
        # that misbehaves; never show it as a good value.
        quality = Quality.CONFIG_ERROR
    usable = quality <= Quality.LAST_USABLE
    decision = (job.scorer.decide(job.model, value, job.key)
                if usable and job.kind == "anomaly" else None)
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
