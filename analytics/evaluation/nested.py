"""The nested protocol (issue #13): how a recipe does on files none of its choices saw.

SKAB's own protocol fits each file on its first rows, but the recipe's other choices
(window, margin, hold, inputs) were made looking at every file. Here a recipe is a
*procedure*: `choose` sees the labelled training files of a fold and returns its choices;
`evaluate` applies them to one held-out file exactly as SKAB's protocol does (fit on its
commissioning rows, decide every later row). Nothing of a test file reaches `choose`.

Folds split the labelled files by file (leave-files-out), stratified by experiment folder
(each folder's files dealt evenly over the folds after a shuffle), repeated with other
seeds. Figures: the mean over folds, the worst fold, and every test row of every fold
pooled (each file counts once per repeat). The unlabelled recordings are the generic
normal data every fold may use: they carry no labels and no test rows.

The labels protocol is the same machinery with two folds: the labels of half the files of
each folder teach a procedure, the other half is scored, and the roles swap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from analytics.evaluation.anomaly import FileResult, score_test_part
from analytics.evaluation.metrics import Confusion
from analytics.features import WindowSpec, window_ends
from analytics.training.anomaly import (
    COMMISSIONING_ROWS,
    HOLD,
    THRESHOLD,
    WINDOW,
    DriftAllowance,
    EnvelopeScore,
    LabelledFit,
    drift_allowance,
    fit_labelled,
    labelled_features,
    window_means,
)
from analytics.training.datasets import DatasetError, Recording, RecordingSet

logger = logging.getLogger(__name__)

FOLDS = 4
REPEATS = 3
# The selection rule, fixed before any nested figure was seen: the highest training F1
# among the choices whose training false-alarm rate is at most 7.5 %. Held-out FAR runs
# above in-sample FAR, and the goal is 10 % pooled.
FAR_TARGET = 0.075
WINDOWS = (8, 15, 23)
MARGINS = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
HOLDS = (0, 10, 20, 30)


@dataclass(frozen=True)
class Fold:
    """One split: the files that teach the procedure and the files it is scored on."""

    repeat: int
    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]


def folder_of(name: str) -> str:
    """The experiment folder of a recording name ("valve1/3.csv" -> "valve1")."""
    return name.rpartition("/")[0]


def make_folds(names: Sequence[str], folds: int, repeats: int, seed: int = 0) -> list[Fold]:
    """Leave-files-out folds stratified by folder, `repeats` times with other shuffles.

    Each folder's files are shuffled and dealt round the folds, the deal carrying on from
    folder to folder so fold sizes differ by one at most; a folder with at least `folds`
    files is in every test fold.
    """
    if folds < 2 or repeats < 1:
        raise ValueError(f"need folds >= 2 and repeats >= 1 (got {folds}, {repeats})")
    if len(set(names)) != len(names):
        raise ValueError("file names must be unique")
    if len(names) < folds:
        raise DatasetError(f"{len(names)} labelled files cannot make {folds} folds")
    by_folder: dict[str, list[str]] = {}
    for name in names:
        by_folder.setdefault(folder_of(name), []).append(name)
    result = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        dealt: list[list[str]] = [[] for _ in range(folds)]
        turn = 0
        for folder in sorted(by_folder):
            files = by_folder[folder]
            for position in rng.permutation(len(files)):
                dealt[turn % folds].append(files[position])
                turn += 1
        for index, test in enumerate(dealt):
            held = set(test)
            train = tuple(n for n in names if n not in held)
            result.append(Fold(repeat, index, train, tuple(n for n in names if n in held)))
    return result


class Procedure(Protocol):
    """A recipe as the nested protocol sees it: choices from training files, then applied."""

    name: str

    def choose(self, train: Sequence[Recording]) -> Any:
        """Every choice of the recipe, from these labelled files only."""
        ...

    def describe(self, choice: Any) -> dict[str, Any]:
        """The choice as JSON values."""
        ...

    def evaluate(self, choice: Any, recording: Recording) -> FileResult:
        """The choice applied to one file under SKAB's protocol (fit on its first rows)."""
        ...


@dataclass(frozen=True)
class FoldResult:
    """One fold: its files, what the procedure chose, and the test rows pooled."""

    fold: Fold
    choice: dict[str, Any]
    files: tuple[FileResult, ...]

    @property
    def confusion(self) -> Confusion:
        """The fold's test rows pooled."""
        return sum((f.confusion for f in self.files), Confusion())

    def to_dict(self) -> dict[str, Any]:
        """JSON values: repeat, fold, files, choice and the pooled counts and rates."""
        return {
            "repeat": self.fold.repeat,
            "fold": self.fold.index,
            "train": list(self.fold.train),
            "test": list(self.fold.test),
            "choice": self.choice,
            "test_rows": self.confusion.rows,
            **self.confusion.to_dict(),
            "files": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True, eq=False)
class NestedResult:
    """Every fold of one procedure: mean, worst and pooled figures."""

    procedure: str
    folds: tuple[FoldResult, ...]
    reference: tuple[str, ...] = ()

    @property
    def pooled(self) -> Confusion:
        """Every test row of every fold in one matrix (a file once per repeat)."""
        return sum((f.confusion for f in self.folds), Confusion())

    def mean(self) -> dict[str, float]:
        """Each rate averaged over the folds where it is defined."""
        return {
            rate: float(np.mean(values))
            for rate, values in self._rates().items()
            if values  # a rate undefined in every fold has no mean
        }

    def worst(self) -> dict[str, float]:
        """The worst fold for each rate: lowest F1, highest FAR, highest MAR."""
        pick: dict[str, Callable[[list[float]], float]] = {"f1": min, "far": max, "mar": max}
        return {rate: pick[rate](values) for rate, values in self._rates().items() if values}

    def _rates(self) -> dict[str, list[float]]:
        rates: dict[str, list[float]] = {"f1": [], "far": [], "mar": []}
        for fold in self.folds:
            for rate, value in fold.confusion.rates().items():
                rates[rate].append(value)
        return rates

    def to_dict(self) -> dict[str, Any]:
        """JSON values: the summary figures and the per-fold table."""
        return {
            "procedure": self.procedure,
            "extra_normal_data": list(self.reference),
            "mean": self.mean(),
            "worst": self.worst(),
            "pooled": {"test_rows": self.pooled.rows, **self.pooled.to_dict()},
            "folds": [f.to_dict() for f in self.folds],
        }


def run_nested(
    dataset: RecordingSet,
    procedure: Procedure,
    folds: Sequence[Fold],
    *,
    progress: bool = False,
) -> NestedResult:
    """Run `procedure` over `folds` of the labelled files of `dataset`."""
    by_name = {r.name: r for r in _labelled(dataset)}
    results = []
    for fold in tqdm(folds, desc=procedure.name, unit="fold", disable=not progress):
        choice = procedure.choose([by_name[n] for n in fold.train])
        logger.debug("fold %d/%d chose %r", fold.repeat, fold.index, choice)
        files = tuple(procedure.evaluate(choice, by_name[n]) for n in fold.test)
        results.append(FoldResult(fold, procedure.describe(choice), files))
    return NestedResult(procedure.name, tuple(results), tuple(r.name for r in dataset.unlabelled))


def _labelled(dataset: RecordingSet) -> tuple[Recording, ...]:
    if not dataset.labelled:
        raise DatasetError(
            f"{dataset.root}: no recording with an 'anomaly' column: nothing to evaluate"
        )
    return dataset.labelled


# --------------------------------------------------------------- the envelope procedure
@dataclass(frozen=True)
class EnvelopeChoice:
    """Window length, margin (threshold), hold and inputs of the envelope recipe."""

    window: int
    margin: float
    hold: int
    inputs: tuple[str, ...]


DEFAULT_CHOICE_PARAMS = (WINDOW.length, THRESHOLD, HOLD)


@dataclass(eq=False)
class EnvelopeProcedure:
    """The envelope of window means with window, margin, hold and inputs chosen on the
    training files: each (window, margin, hold) of the grid with the drift rule's inputs
    (allowance <= margin), then, with `eliminate`, inputs dropped one at a time while that
    improves the training figure; the best by the selection rule (`FAR_TARGET`).

    The drift allowance comes from the unlabelled reference only, so it is the same in
    every fold. Window means and each file's deviations are cached per window: a fold's
    choice re-reads them instead of re-fitting.
    """

    reference: Sequence[np.ndarray]
    signals: tuple[str, ...]
    commissioning_rows: int = COMMISSIONING_ROWS
    eliminate: bool = True
    windows: Sequence[int] = WINDOWS
    margins: Sequence[float] = MARGINS
    holds: Sequence[int] = HOLDS
    far_target: float = FAR_TARGET
    name: str = "envelope, choices on training files"
    _allowances: dict[int, DriftAllowance] = field(default_factory=dict, repr=False)
    _deviations: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False
    )

    def allowance(self, window: int) -> DriftAllowance:
        """The drift allowance of window means of `window` samples (cached)."""
        if window not in self._allowances:
            self._allowances[window] = drift_allowance(
                self.reference,
                self.signals,
                self.commissioning_rows,
                window=WindowSpec(window, 1),
            )
        return self._allowances[window]

    def deviations(self, recording: Recording, window: int) -> tuple[np.ndarray, np.ndarray]:
        """|mean - centre| / (allowance * spread) of every window and signal, and the row
        each window ends at: the envelope fitted on the file's commissioning rows."""
        key = (recording.name, window)
        if key not in self._deviations:
            allowance = self.allowance(window)
            scale = np.array([allowance.of(s) for s in self.signals])
            spec = WindowSpec(window, 1)
            means = window_means(recording.values, spec)
            fitted = self.commissioning_rows - window + 1  # windows inside commissioning
            envelope = EnvelopeScore(allowance=scale).fit(means[:fitted])
            self._deviations[key] = (
                np.abs(means - envelope.centre_) / envelope.scale_,
                window_ends(len(recording.values), spec),
            )
        return self._deviations[key]

    def drift_rule(self, window: int, margin: float) -> tuple[str, ...]:
        """The inputs whose drift allowance is within the margin (the default rule)."""
        allowance = self.allowance(window)
        return tuple(s for s in self.signals if allowance.of(s) <= margin)

    def evaluate(self, choice: EnvelopeChoice, recording: Recording) -> FileResult:
        """The envelope of `choice` on one file: fitted on its commissioning rows."""
        deviation, ends = self.deviations(recording, choice.window)
        columns = [self.signals.index(s) for s in choice.inputs]
        scores = deviation[:, columns].max(axis=1)
        return score_test_part(
            recording,
            scores,
            ends,
            self.commissioning_rows,
            choice.margin,
            choice.hold,
            choice.inputs,
        )

    def choose(self, train: Sequence[Recording]) -> EnvelopeChoice:
        """The best choice of the grid on `train` by the selection rule."""
        best: tuple[tuple[bool, float], EnvelopeChoice] | None = None
        for window in self.windows:
            for margin in self.margins:
                inputs = self.drift_rule(window, margin)
                if not inputs:
                    continue
                for hold in self.holds:
                    choice = EnvelopeChoice(window, margin, hold, inputs)
                    merit = self._merit(choice, train)
                    if self.eliminate:
                        choice, merit = self._eliminate(choice, merit, train)
                    if best is None or merit > best[0]:
                        best = (merit, choice)
        if best is None:
            raise DatasetError("no signal within any margin of the grid: nothing to choose")
        return best[1]

    def _merit(self, choice: EnvelopeChoice, train: Sequence[Recording]) -> tuple[bool, float]:
        """Within the FAR target first, then F1; outside it, the lower FAR the better."""
        pooled = sum((self.evaluate(choice, r).confusion for r in train), Confusion())
        far = pooled.far or 0.0
        if far <= self.far_target:
            return True, pooled.f1 or 0.0
        return False, -far

    def _eliminate(
        self, choice: EnvelopeChoice, merit: tuple[bool, float], train: Sequence[Recording]
    ) -> tuple[EnvelopeChoice, tuple[bool, float]]:
        """Drop the input whose removal helps most, while one does (backward greedy)."""
        while len(choice.inputs) > 1:
            candidates = [
                EnvelopeChoice(
                    choice.window,
                    choice.margin,
                    choice.hold,
                    tuple(s for s in choice.inputs if s != dropped),
                )
                for dropped in choice.inputs
            ]
            merits = [self._merit(c, train) for c in candidates]
            best = max(range(len(candidates)), key=merits.__getitem__)
            if merits[best] <= merit:
                break
            choice, merit = candidates[best], merits[best]
        return choice, merit

    def describe(self, choice: EnvelopeChoice) -> dict[str, Any]:
        """JSON values of a choice."""
        return {
            "window": choice.window,
            "margin": choice.margin,
            "hold": choice.hold,
            "inputs": list(choice.inputs),
        }


@dataclass(eq=False)
class FixedEnvelope:
    """The default recipe with its constants: nothing is learned from the training files
    (the unsupervised baseline of the labels protocol)."""

    envelope: EnvelopeProcedure
    name: str = "envelope, default constants (no labels used)"

    def choose(self, train: Sequence[Recording]) -> EnvelopeChoice:
        """The default window, threshold and hold, inputs by the drift rule."""
        window, margin, hold = DEFAULT_CHOICE_PARAMS
        return EnvelopeChoice(window, margin, hold, self.envelope.drift_rule(window, margin))

    def evaluate(self, choice: EnvelopeChoice, recording: Recording) -> FileResult:
        """As the envelope procedure evaluates."""
        return self.envelope.evaluate(choice, recording)

    def describe(self, choice: EnvelopeChoice) -> dict[str, Any]:
        """As the envelope procedure describes."""
        return self.envelope.describe(choice)


@dataclass(eq=False)
class LabelledProcedure:
    """The supervised recipe (`fit_labelled`): a classifier of windows trained on the
    training files' labels, its threshold by out-of-fold F1 among them; scored on the
    held-out files' rows after commissioning, like every procedure."""

    commissioning_rows: int = COMMISSIONING_ROWS
    seed: int = 0
    name: str = "gradient boosting on labelled windows"

    def choose(self, train: Sequence[Recording]) -> LabelledFit:
        """The classifier and its threshold, from `train` only."""
        return fit_labelled(train, seed=self.seed)

    def evaluate(self, choice: LabelledFit, recording: Recording) -> FileResult:
        """P(anomaly) of every window of the file against the chosen threshold."""
        features, ends = labelled_features(recording, choice.inputs)
        scores = np.full(len(features), np.nan)  # an incomplete window is not over
        complete = np.isfinite(features).all(axis=1)
        scores[complete] = choice.classifier.predict_proba(features[complete])[:, 1]
        return score_test_part(
            recording, scores, ends, self.commissioning_rows, choice.threshold, 0, choice.inputs
        )

    def describe(self, choice: LabelledFit) -> dict[str, Any]:
        """Threshold and inputs of the fitted classifier."""
        return {"threshold": choice.threshold, "hold": 0, "inputs": list(choice.inputs)}
