"""`uvelka train` and `uvelka evaluate`: the training-time commands, mounted by the CLI.

Importing this module costs argparse only. The handlers import `analytics.training` and
`analytics.evaluation` (scikit-learn, skl2onnx, onnx, tqdm) when they run: the runtime
image has none of those, and `uvelka run` must not pay for them.

Output: results on stdout (JSON with `--json`), progress bars on stderr, and errors on
stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from analytics.evaluation.anomaly import Evaluation
    from analytics.evaluation.metrics import Confusion
    from analytics.manifest import Manifest
    from analytics.training.datasets import Recording

EXIT_ERROR = 2


class UsageError(Exception):
    """The command line asks for something the data cannot give."""


def add_train_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train anomaly` to the CLI's subcommands; the handler is `args.handler`."""
    train = commands.add_parser("train", help="train a model and export it to ONNX")
    targets = train.add_subparsers(dest="target", required=True, metavar="MODEL")
    anomaly = targets.add_parser(
        "anomaly",
        help="anomaly detector for one asset (envelope of window means), or --labels",
        description=(
            "Without --labels: fit the default recipe on the first --commissioning-rows rows"
            " of one asset's recording (normal operation), with the drift allowance from"
            " --reference normal data. With --labels: a gradient-boosting classifier of"
            " windows, trained on recordings with an 'anomaly' column."
        ),
    )
    anomaly.add_argument(
        "--data",
        type=Path,
        required=True,
        help="a CSV recording (time + signal columns, ',' or ';'); with --labels also a"
        " folder of them",
    )
    anomaly.add_argument("--out", type=Path, required=True, help="the model file, NAME.onnx")
    anomaly.add_argument(
        "--reference",
        type=Path,
        help="normal operation of the same kind of plant (CSV file or folder), at least"
        " 1200 rows, for the drift allowance; without it the allowance is 1",
    )
    _add_commissioning_rows(anomaly)
    _add_signals(anomaly)
    anomaly.add_argument(
        "--labels", action="store_true", help="supervised: learn from the 'anomaly' column"
    )
    anomaly.add_argument("--name", help="model name in the manifest (default: the file name)")
    anomaly.add_argument(
        "--seed", type=int, default=0, help="random seed of --labels training (default 0)"
    )
    anomaly.set_defaults(handler=_train_anomaly)


def add_evaluate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `evaluate anomaly` to the CLI's subcommands; the handler is `args.handler`."""
    evaluate = commands.add_parser("evaluate", help="score a recipe or a model on a dataset")
    targets = evaluate.add_subparsers(dest="target", required=True, metavar="MODEL")
    anomaly = targets.add_parser(
        "anomaly",
        help="SKAB protocol: fit per file on its first rows, score the rest, pool",
        description=(
            "Every recording with an 'anomaly' column under --data is an asset: the default"
            " recipe is fitted on its first --commissioning-rows rows (what `uvelka train"
            " anomaly` does) and decides every later row; recordings without labels are"
            " extra normal data for the drift allowance. With --model, that one model"
            " scores every file instead (a fleet model: nothing is fitted per file)."
        ),
    )
    anomaly.add_argument("--data", type=Path, required=True, help="a folder of CSV recordings")
    anomaly.add_argument("--model", type=Path, help="score this model file instead")
    _add_commissioning_rows(anomaly)
    _add_signals(anomaly)
    anomaly.add_argument("--json", action="store_true", help="print the results as JSON")
    anomaly.set_defaults(handler=_evaluate_anomaly)


def _add_commissioning_rows(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--commissioning-rows",
        type=_positive_int,
        default=400,
        metavar="N",
        help="rows an asset is fitted on, from its first row (default 400, SKAB's protocol)",
    )


def _add_signals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--signals",
        type=_signal_list,
        metavar="A,B,...",
        help="the model's inputs, in order, instead of the recipe's selection rule",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of rows >= 1, got {text!r}")
    return value


def _signal_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty signal name in {text!r}")
    return names


def _train_anomaly(args: argparse.Namespace) -> int:
    train = _train_labelled if args.labels else _train_envelope
    return _reporting_errors("train anomaly", lambda: train(args))


def _evaluate_anomaly(args: argparse.Namespace) -> int:
    return _reporting_errors("evaluate anomaly", lambda: _evaluate(args))


def _reporting_errors(command: str, run: Callable[[], int]) -> int:
    """Run a handler; a problem with the data or a model is one line on stderr, exit 2."""
    try:
        from analytics.inference import ModelError
        from analytics.training.anomaly import RecipeError
        from analytics.training.datasets import DatasetError
        from analytics.training.export import ExportError
    except ModuleNotFoundError as exc:
        print(
            f"uvelka {command} needs the training extra"
            f" (pip install 'uvelka-gateway[train]'): {exc}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        return run()
    except (UsageError, DatasetError, RecipeError, ModelError, ExportError, OSError) as exc:
        print(f"uvelka {command}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _train_envelope(args: argparse.Namespace) -> int:
    from analytics.evaluation.anomaly import score_test_part
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import anomaly
    from analytics.training.export import export_onnx, verify

    recording = _one_recording(args.data)
    rows = args.commissioning_rows
    if len(recording.values) < rows:
        raise UsageError(
            f"{args.data}: {len(recording.values)} rows, fewer than the {rows} commissioning rows"
        )
    commissioning = recording.values[:rows]
    reference = _reference(args.reference, recording.signals) if args.reference else []
    allowance = anomaly.drift_allowance(reference, recording.signals, rows, progress=True)
    fit = anomaly.fit_envelope(commissioning, allowance, args.signals)

    print(f"data: {args.data} ({len(recording.values)} rows; commissioning: rows 1-{rows})")
    if recording.labels is not None and recording.labels[:rows].any():
        print(
            f"warning: {int(recording.labels[:rows].sum())} commissioning rows are labelled"
            " anomalous; the envelope includes them"
        )
    print(f"drift allowance: {allowance.describe()}")
    print("  " + ", ".join(f"{s} {allowance.of(s):.3f}" for s in recording.signals))
    for signal, reason in fit.excluded.items():
        print(f"left out: {signal} ({reason})")
    metrics: dict[str, float] = {}
    if recording.labels is not None and len(recording.values) > rows:
        scores, ends = fit.window_scores(recording.values)
        result = score_test_part(
            recording, scores, ends, rows, anomaly.THRESHOLD, anomaly.HOLD, fit.inputs
        )
        metrics = {f"test_{k}": v for k, v in result.confusion.rates().items()}
        print(f"labelled rows after commissioning: {_rates(result.confusion)}")

    source = f"{args.data}: rows 1-{rows} (commissioning)"
    if args.reference:
        source += f"; reference normal data {args.reference}: {allowance.reference_rows} rows"
    data = TrainingData(fingerprint(commissioning, *reference), source)
    manifest = fit.manifest(args.name or args.out.stem, data, metrics)
    export_onnx(fit.detector, len(fit.inputs), manifest, args.out, dtype="float64")
    columns = [recording.signals.index(s) for s in fit.inputs]
    check = anomaly.window_means(recording.values[:, columns])
    diff = verify(fit.detector, args.out, check, atol=1e-9)
    _print_model(args.out, manifest, f"max |ONNX - numpy| {diff:.1e} over the recording")
    return 0


def _train_labelled(args: argparse.Namespace) -> int:
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import anomaly
    from analytics.training.datasets import load_recordings
    from analytics.training.export import export_onnx, verify

    if args.reference is not None:
        raise UsageError("--reference is for the envelope recipe; --labels learns from labels")
    dataset = load_recordings(args.data)
    recordings = dataset.labelled
    if not recordings:
        raise UsageError(f"{args.data}: no recording with an 'anomaly' column (--labels)")
    fit = anomaly.fit_labelled(recordings, args.signals, args.seed, progress=True)
    features, labels, _ = anomaly.labelled_windows(recordings, fit.inputs)

    skipped = len(dataset.unlabelled)
    print(
        f"data: {args.data} ({len(recordings)} labelled recordings, {len(labels)} windows,"
        f" {int(labels.sum())} anomalous"
        + (f"; {skipped} unlabelled recordings not used)" if skipped else ")")
    )
    print(
        f"validation: {fit.folds} folds by recording, threshold {fit.threshold:g} (max F1):"
        f" {_rates(fit.validation)}"
    )
    source = f"{args.data}: {len(recordings)} labelled recordings"
    labels_by_recording = [r.labels for r in recordings if r.labels is not None]
    data = TrainingData(fingerprint(*(r.values for r in recordings), *labels_by_recording), source)
    manifest = fit.manifest(args.name or args.out.stem, data)
    export_onnx(fit.classifier, features.shape[1], manifest, args.out)
    diff = verify(fit.classifier, args.out, features)
    _print_model(args.out, manifest, f"max |ONNX - scikit-learn| {diff:.1e} on the windows")
    return 0


def _print_model(path: Path, manifest: Manifest, check: str) -> None:
    print(f"inputs: {', '.join(manifest.inputs)}")
    print(
        f"features: {', '.join(manifest.feature_kinds)} over {manifest.window.length} samples,"
        f" step {manifest.window.step}; threshold {manifest.threshold:g},"
        f" hold {manifest.hold} windows"
    )
    print(f"model: {path} ({manifest.name}; {check})")
    print(f"training data fingerprint: {manifest.data.sha256}")


def _one_recording(path: Path) -> Recording:
    from analytics.training.datasets import load_recordings

    dataset = load_recordings(path)
    if len(dataset.recordings) != 1:
        raise UsageError(
            f"{path}: {len(dataset.recordings)} recordings; an anomaly envelope is fitted per"
            " asset, from one file (or use --labels to learn from labelled recordings)"
        )
    return dataset.recordings[0]


def _reference(path: Path, signals: Sequence[str]) -> list[np.ndarray]:
    """The reference recordings' columns in the order of `signals`; normal rows only."""
    from analytics.training.datasets import load_recordings

    arrays = []
    for recording in load_recordings(path).recordings:
        missing = [s for s in signals if s not in recording.signals]
        if missing:
            raise UsageError(f"{path / recording.name}: reference data lacks {missing}")
        if recording.labels is not None and recording.labels.any():
            raise UsageError(
                f"{path / recording.name}: {int(recording.labels.sum())} rows labelled"
                " anomalous; reference data must be normal operation"
            )
        arrays.append(recording.values[:, [recording.signals.index(s) for s in signals]])
    return arrays


def _evaluate(args: argparse.Namespace) -> int:
    from analytics.evaluation.anomaly import evaluate_model, evaluate_recipe
    from analytics.inference import Model
    from analytics.training.datasets import detect_layout, load_recordings

    if detect_layout(args.data) != "recordings":
        raise UsageError(f"{args.data}: not a folder of CSV recordings (C-MAPSS is for rul)")
    dataset = load_recordings(args.data)
    rows = args.commissioning_rows
    if args.model is not None:
        if args.signals is not None:
            raise UsageError("--signals chooses the recipe's inputs; a --model has its own")
        evaluation = evaluate_model(dataset, Model.load(args.model), rows, progress=True)
    else:
        evaluation = evaluate_recipe(dataset, rows, args.signals, progress=True)
    if args.json:
        print(json.dumps(evaluation.to_dict(), indent=2, allow_nan=False))
    else:
        _print_evaluation(evaluation)
    return 0


def _print_evaluation(evaluation: Evaluation) -> None:
    print(f"data: {evaluation.root} ({len(evaluation.files)} labelled recordings)")
    print(f"method: {evaluation.method}")
    print(
        f"protocol: first {evaluation.commissioning_rows} rows of each file train, the rest"
        f" test; threshold {evaluation.threshold:g}, hold {evaluation.hold} windows"
    )
    allowance = evaluation.allowance
    if evaluation.reference:
        print("using anomaly-free data as extra normal data: " + ", ".join(evaluation.reference))
    if allowance is not None:
        print(f"drift allowance: {allowance.describe()}")
        print("  " + ", ".join(f"{s} {allowance.of(s):.3f}" for s in allowance.signals))
    inputs = {f.inputs for f in evaluation.files}
    if len(inputs) == 1:
        print(f"inputs: {', '.join(next(iter(inputs)))}")
    width = max(len("file"), *(len(f.name) for f in evaluation.files))
    print(
        f"{'file':{width}s} {'rows':>5s} {'anom':>5s} {'TP':>5s} {'FP':>5s} {'FN':>5s}"
        f" {'TN':>5s} {'F1':>6s} {'FAR%':>6s} {'MAR%':>6s}"
    )
    for f in evaluation.files:
        c = f.confusion
        print(
            f"{f.name:{width}s} {f.test_rows:5d} {f.anomalous_rows:5d} {c.tp:5d} {c.fp:5d}"
            f" {c.fn:5d} {c.tn:5d} {_number(c.f1, 1, 6)} {_number(c.far, 100, 6)}"
            f" {_number(c.mar, 100, 6)}"
        )
    overall = evaluation.overall
    print(
        f"POOLED over {overall.rows} test rows: {_rates(overall)}"
        f" (TP {overall.tp}, FP {overall.fp}, FN {overall.fn}, TN {overall.tn})"
    )


def _rates(confusion: Confusion) -> str:
    return (
        f"F1 {_number(confusion.f1, 1)}, FAR {_number(confusion.far, 100, decimals=2)} %,"
        f" MAR {_number(confusion.mar, 100, decimals=2)} %"
    )


def _number(value: float | None, factor: float, width: int = 0, decimals: int = 0) -> str:
    """A rate for the table: n/a when undefined; F1 with 4 decimals, percentages with 1."""
    decimals = decimals or (4 if factor == 1 else 1)
    text = "n/a" if value is None else f"{value * factor:.{decimals}f}"
    return f"{text:>{width}s}"
