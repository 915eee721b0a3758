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
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from analytics.evaluation.anomaly import Evaluation
    from analytics.evaluation.metrics import Confusion
    from analytics.evaluation.nested import NestedResult
    from analytics.evaluation.rul import RulEvaluation
    from analytics.manifest import Manifest
    from analytics.training.datasets import CmapssSubset, Recording, RecordingSet
    from analytics.training.rul import RulFit, RunData

EXIT_ERROR = 2
RUL_CAP = 125.0  # the C-MAPSS protocol's cap (analytics.training.rul.CAP, not imported here)


class UsageError(Exception):
    """The command line asks for something the data cannot give."""


def add_train_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add `train anomaly` and `train rul` to the CLI's subcommands; handler: `args.handler`.
    Their parsers are returned for the gateway to add its own history as a source instead
    of --data (`--history`, issue #12)."""
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
    anomaly.add_argument(
        "--univariate",
        action="store_true",
        help="the univariate recipe for an asset with one signal: the newest sample against"
        " its trailing window (issue #13); needs --commissioning-rows of at least its window",
    )
    anomaly.add_argument("--name", help="model name in the manifest (default: the file name)")
    anomaly.add_argument(
        "--seed", type=int, default=0, help="random seed of --labels training (default 0)"
    )
    anomaly.set_defaults(handler=_train_anomaly)
    return anomaly, _add_train_rul(targets)


def _add_train_rul(
    targets: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    rul = targets.add_parser(
        "rul",
        help="remaining useful life (gradient boosting on buffer features)",
        description=(
            "Fit the RUL recipe on runs to failure: a C-MAPSS folder (the training file of"
            " --subset, default the first) or CSV recordings (a 'run' or 'unit' column"
            " separates runs, else each file is one run). The target is min(remaining life,"
            " --cap); for CSV the remaining life is --target-column, else the time to the"
            " last row of the run, in --unit."
        ),
    )
    rul.add_argument(
        "--data",
        type=Path,
        help="a C-MAPSS folder (train_*.txt) or a CSV recording or folder of them",
    )
    rul.add_argument("--out", type=Path, required=True, help="the model file, NAME.onnx")
    rul.add_argument("--subset", help="C-MAPSS subset to train on, e.g. FD002 (default: first)")
    rul.add_argument(
        "--cap",
        type=_positive_number,
        default=RUL_CAP,
        help=f"cap of the target, in the output unit (default {RUL_CAP:g}, C-MAPSS protocol)",
    )
    rul.add_argument(
        "--unit",
        help="output unit: cycles (C-MAPSS, and for CSV: rows), s, min, h or d (CSV default h)",
    )
    rul.add_argument(
        "--target-column",
        metavar="NAME",
        help="CSV: the column holding the remaining life, in --unit (e.g. remaining_life_h)",
    )
    _add_signals(rul)
    rul.add_argument("--name", help="model name in the manifest (default: the file name)")
    rul.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    rul.set_defaults(handler=_train_rul)
    return rul


def add_evaluate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `evaluate anomaly` and `evaluate rul` to the CLI's subcommands (`args.handler`)."""
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
    anomaly.add_argument(
        "--windows",
        type=Path,
        metavar="FILE",
        help="NAB's protocol (issue #13): --data is one univariate CSV series, FILE a JSON"
        " list of [start, end] anomaly windows; the univariate recipe streams it and NAB's"
        " standard profile scores its alarms",
    )
    _add_commissioning_rows(anomaly)
    _add_signals(anomaly)
    _add_nested_options(anomaly)
    anomaly.add_argument("--json", action="store_true", help="print the results as JSON")
    anomaly.set_defaults(handler=_evaluate_anomaly)
    rul = targets.add_parser(
        "rul",
        help="C-MAPSS protocol: train on each subset's training runs, predict each test unit",
        description=(
            "For every subset of the C-MAPSS folder with test_*.txt and RUL_*.txt: fit the"
            " RUL recipe on its training runs (what `uvelka train rul` fits), predict each"
            " test unit once at its last cycle and compare with the true RUL: RMSE and the"
            " PHM08 score. With --model, that model predicts instead (nothing is fitted)."
        ),
    )
    rul.add_argument("--data", type=Path, required=True, help="a C-MAPSS folder")
    rul.add_argument("--model", type=Path, help="score this model file instead")
    rul.add_argument(
        "--cap",
        type=_positive_number,
        help=f"cap of the training target (default {RUL_CAP:g}); not with --model",
    )
    rul.add_argument("--json", action="store_true", help="print the results as JSON")
    rul.set_defaults(handler=_evaluate_rul)


def _add_nested_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        choices=("skab", "nested"),
        default="skab",
        help="skab (default): the recipe's constants on every file; nested: every choice"
        " of the recipe made on training files only, scored on held-out files (issue #13)",
    )
    parser.add_argument(
        "--labels",
        action="store_true",
        help="labels protocol: labels of half the files of each folder teach, the other"
        " half is scored; the supervised recipe against the unsupervised one",
    )
    parser.add_argument(
        "--folds", type=_positive_int, default=4, metavar="N", help="nested: folds (default 4)"
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=3,
        metavar="N",
        help="nested and --labels: repeats with other shuffles (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffles (default 0)")


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


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _signal_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"empty signal name in {text!r}")
    return names


def _train_anomaly(args: argparse.Namespace) -> int:
    if args.univariate:
        return reporting_errors("train anomaly", lambda: _train_univariate(_with_data(args)))
    train = _train_labelled if args.labels else _train_envelope
    return reporting_errors("train anomaly", lambda: train(_with_data(args)))


def _evaluate_anomaly(args: argparse.Namespace) -> int:
    return reporting_errors("evaluate anomaly", lambda: _evaluate(args))


def reporting_errors(command: str, run: Callable[[], int]) -> int:
    """Run a handler; a problem with the data or a model is one line on stderr, exit 2."""
    try:
        from analytics.model_file import ModelError
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
    if args.windows is not None:
        return _evaluate_nab(args)
    dataset = load_recordings(args.data)
    rows = args.commissioning_rows
    if args.labels or args.protocol == "nested":
        return _evaluate_nested(args, dataset)
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


def _evaluate_nab(args: argparse.Namespace) -> int:
    from analytics.univariate_commands import evaluate_nab

    if args.model is not None or args.signals is not None or args.protocol != "skab":
        raise UsageError("--windows runs NAB's protocol with the univariate recipe alone")
    return evaluate_nab(args.data, args.windows, as_json=args.json)


def _train_univariate(args: argparse.Namespace) -> int:
    from analytics.univariate_commands import train_univariate

    if args.labels or args.reference is not None:
        raise UsageError("--univariate fits one signal's own commissioning rows alone")
    return train_univariate(args.data, args.out, args.commissioning_rows, args.signals, args.name)


def _evaluate_nested(args: argparse.Namespace, dataset: RecordingSet) -> int:
    """`--protocol nested` and `--labels`: procedures over leave-files-out folds."""
    from analytics.evaluation import nested

    if args.model is not None or args.signals is not None:
        raise UsageError(
            "--model and --signals fix what the nested and labels protocols let the recipe"
            " choose on its training files; use them with --protocol skab"
        )
    envelope = nested.EnvelopeProcedure(
        [r.values for r in dataset.unlabelled], dataset.signals, args.commissioning_rows
    )
    names = [r.name for r in dataset.labelled]
    procedures: list[nested.Procedure]
    if args.labels:
        # Two folds: half of each folder's files teach, the other half is scored.
        folds = nested.make_folds(names, 2, args.repeats, args.seed)
        procedures = [
            nested.FixedEnvelope(envelope),
            envelope,
            nested.LabelledProcedure(args.commissioning_rows, args.seed),
        ]
    else:
        folds = nested.make_folds(names, args.folds, args.repeats, args.seed)
        procedures = [envelope]
    results = [nested.run_nested(dataset, p, folds, progress=True) for p in procedures]
    protocol = {
        "protocol": "labels" if args.labels else "nested",
        "data": str(dataset.root),
        "commissioning_rows": args.commissioning_rows,
        "folds_per_repeat": 2 if args.labels else args.folds,
        "repeats": args.repeats,
        "seed": args.seed,
    }
    if args.json:
        if args.labels:
            raw = {**protocol, "procedures": [r.to_dict() for r in results]}
        else:
            raw = {**protocol, **results[0].to_dict()}
        print(json.dumps(raw, indent=2, allow_nan=False))
        return 0
    print(f"data: {dataset.root} ({len(names)} labelled recordings)")
    if dataset.unlabelled:
        print(
            "using anomaly-free data as extra normal data: "
            + ", ".join(r.name for r in dataset.unlabelled)
        )
    print(
        f"protocol: {protocol['protocol']}, {protocol['folds_per_repeat']} folds by file"
        f" stratified by folder, {args.repeats} repeats (seed {args.seed}); every choice on"
        f" the training files; each test file fitted on its first {args.commissioning_rows}"
        " rows"
    )
    for result in results:
        _print_nested(result)
    if args.labels:
        unsupervised, semi, supervised = (r.pooled.f1 or 0.0 for r in results)
        print(
            f"labels help: pooled F1 {supervised - unsupervised:+.4f} (supervised) and"
            f" {semi - unsupervised:+.4f} (choices from labels) over the default constants"
        )
    return 0


def _print_nested(result: NestedResult) -> None:
    print(f"procedure: {result.procedure}")
    print(f"{'rep':>3s} {'fold':>4s} {'files':>5s} {'F1':>6s} {'FAR%':>6s} {'MAR%':>6s}  choice")
    for fold in result.folds:
        c = fold.confusion
        choice = ", ".join(
            f"{k} {','.join(v) if isinstance(v, list) else v}" for k, v in fold.choice.items()
        )
        print(
            f"{fold.fold.repeat:3d} {fold.fold.index:4d} {len(fold.files):5d}"
            f" {_number(c.f1, 1, 6)} {_number(c.far, 100, 6)} {_number(c.mar, 100, 6)}  {choice}"
        )
    mean, worst, pooled = result.mean(), result.worst(), result.pooled
    print(
        f"MEAN over {len(result.folds)} folds: F1 {_number(mean.get('f1'), 1)},"
        f" FAR {_number(mean.get('far'), 100, decimals=2)} %,"
        f" MAR {_number(mean.get('mar'), 100, decimals=2)} %"
    )
    print(
        f"WORST fold: F1 {_number(worst.get('f1'), 1)},"
        f" FAR {_number(worst.get('far'), 100, decimals=2)} %,"
        f" MAR {_number(worst.get('mar'), 100, decimals=2)} %"
    )
    print(
        f"POOLED over {pooled.rows} test rows: {_rates(pooled)}"
        f" (TP {pooled.tp}, FP {pooled.fp}, FN {pooled.fn}, TN {pooled.tn})"
    )


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


def _train_rul(args: argparse.Namespace) -> int:
    return reporting_errors("train rul", lambda: _fit_and_export_rul(_with_data(args)))


def _with_data(args: argparse.Namespace) -> argparse.Namespace:
    """`args` of a training command, which needs its data: --data here (the gateway's
    `--history` takes another handler)."""
    if args.data is None:
        raise UsageError("give the data: --data FILE, or --history DATA_DIR --asset NAME")
    return args


def _evaluate_rul(args: argparse.Namespace) -> int:
    return reporting_errors("evaluate rul", lambda: _evaluate_rul_data(args))


def _fit_and_export_rul(args: argparse.Namespace) -> int:
    import numpy as np

    from analytics.evaluation.rul import last_cycle_features, phm08_score, rmse
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import rul
    from analytics.training.datasets import detect_layout
    from analytics.training.export import export_onnx, verify
    from analytics.training.rul_calibration import fit_rul_with_interval, verify_interval

    subset = None
    if detect_layout(args.data) == "cmapss":
        subset = _cmapss_subset(args)
        data = rul.cmapss_runs(subset.train, f"{args.data}: C-MAPSS {subset.name} training runs")
    else:
        data = _csv_runs(args)
    fit = fit_rul_with_interval(data, args.cap, args.signals, args.seed, progress=True)
    _print_rul_fit(data, fit)

    metrics: dict[str, float] = {}
    if subset is not None and subset.test is not None and subset.test_rul is not None:
        source = f"{args.data}/test_{subset.name}.txt"
        predicted = fit.regressor.predict(last_cycle_features(subset.test, fit.spec, source))
        metrics = {
            "test_rmse": rmse(predicted, subset.test_rul),
            "test_phm08": phm08_score(predicted, subset.test_rul),
            "test_units": float(len(predicted)),
        }
        print(
            f"test {subset.name} ({len(predicted)} units, one prediction at the last cycle):"
            f" RMSE {metrics['test_rmse']:.3f}, PHM08 score {metrics['test_phm08']:.1f}"
        )
        held = rul.run_features(rul.cmapss_runs(subset.test, source), fit.spec)
        held_what = "held-out test rows"
    else:
        held, held_what = rul.run_features(data, fit.spec), "training rows"
    held = held[np.isfinite(held).all(axis=1)]  # a row with a gap has no score on either side

    training = TrainingData(fingerprint(data.values, data.runs, data.remaining), data.source)
    manifest = fit.manifest(args.name or args.out.stem, training, metrics)
    export_onnx(fit.regressor, fit.spec.n_features, manifest, args.out, dtype="float64")
    diff = verify(fit.regressor, args.out, held)
    print(
        f"model: {args.out} ({manifest.name}; max |ONNX - scikit-learn| {diff:.1e} on"
        f" {len(held)} {held_what})"
    )
    if fit.interval is not None:
        print(f"interval: Low/High of the file agree to {verify_interval(fit, args.out, held):.1e}")
    print(f"training data fingerprint: {manifest.data.sha256}")
    return 0


def _cmapss_subset(args: argparse.Namespace) -> CmapssSubset:
    from analytics.training.datasets import load_cmapss

    if args.unit not in (None, "cycles"):
        raise UsageError(f"C-MAPSS counts cycles; --unit {args.unit!r} does not apply")
    if args.target_column is not None:
        raise UsageError("C-MAPSS's target is the remaining cycles; --target-column is for CSV")
    subsets = load_cmapss(args.data)
    name = args.subset or next(iter(subsets))
    if name not in subsets:
        raise UsageError(f"{args.data}: no subset {name!r} (found {', '.join(subsets)})")
    return subsets[name]


def _csv_runs(args: argparse.Namespace) -> RunData:
    from analytics.training import rul
    from analytics.training.datasets import load_recordings

    if args.subset is not None:
        raise UsageError(f"{args.data}: --subset is for a C-MAPSS folder, this is CSV")
    unit = args.unit or "h"
    if unit not in rul.UNITS:
        raise UsageError(f"--unit {unit!r}: one of {', '.join(rul.UNITS)}")
    dataset = load_recordings(args.data)
    return rul.recording_runs(
        dataset.recordings, dataset.root, target_column=args.target_column, unit=unit
    )


def _print_rul_fit(data: RunData, fit: RulFit) -> None:
    from analytics.training.rul_calibration import FOLDS

    spec = fit.spec
    print(f"data: {data.source} ({data.n_runs} runs, {len(data.runs)} rows)")
    for signal, reason in fit.excluded.items():
        print(f"left out: {signal} ({reason})")
    conditions = len(spec.mean)
    print(
        f"operating conditions: {conditions}"
        + (f" (from {', '.join(spec.conditions)})" if spec.conditions else "")
    )
    print(f"inputs: {', '.join(spec.inputs)}")
    print(
        f"features: {', '.join(spec.kinds)} of each signal over the newest {spec.buffer}"
        f" samples, baseline of the first {spec.baseline}, and {spec.feature_names()[-1]}"
        f" ({spec.n_features} features)"
    )
    if spec.sample_period_s is not None:
        print(
            f"sampling period: {spec.sample_period_s:g} s (the gateway must sample the inputs"
            " at this period)"
        )
    print(f"target: min(remaining life, {fit.cap:g} {fit.unit}); {fit.rows} training rows")
    interval = fit.interval
    if interval is None:
        print(f"interval: none ({data.n_runs} run(s); holding runs out needs {FOLDS})")
    else:
        widths = ", ".join(
            f"{knot:.3g}: -{low:.3g}/+{high:.3g}"
            for knot, low, high in zip(interval.knots, interval.lower, interval.upper, strict=True)
        )
        print(f"interval: {interval.nominal:.0%} nominal, {interval.method}")
        print(f"interval offsets by point value ({fit.unit}): {widths}")


def _evaluate_rul_data(args: argparse.Namespace) -> int:
    from analytics.evaluation.rul import evaluate_model, evaluate_recipe
    from analytics.inference import Model
    from analytics.training.datasets import detect_layout, load_cmapss

    if detect_layout(args.data) != "cmapss":
        raise UsageError(f"{args.data}: not a C-MAPSS folder (train_*.txt); the protocol needs one")
    subsets = load_cmapss(args.data)
    if args.model is not None:
        if args.cap is not None:
            raise UsageError("--cap sets the recipe's target; a --model was trained with its own")
        evaluation = evaluate_model(subsets, args.data, Model.load(args.model), progress=True)
    else:
        cap = RUL_CAP if args.cap is None else args.cap
        evaluation = evaluate_recipe(subsets, args.data, cap, progress=True)
    if args.json:
        print(json.dumps(evaluation.to_dict(), indent=2, allow_nan=False))
    else:
        _print_rul_evaluation(evaluation)
    return 0


def _print_rul_evaluation(evaluation: RulEvaluation) -> None:
    names = ", ".join(s.name for s in evaluation.subsets)
    print(f"data: {evaluation.root} (C-MAPSS: {names})")
    print(f"method: {evaluation.method}")
    print(
        f"protocol: target min(remaining {evaluation.output_unit}, {evaluation.cap:g}) in"
        " training; one prediction at the last cycle of each test unit against its true RUL"
    )
    if evaluation.skipped:
        print(f"skipped (no test files): {', '.join(evaluation.skipped)}")
    print(f"{'subset':8s} {'train':>6s} {'test':>5s} {'RMSE':>8s} {'PHM08':>9s}  inputs")
    for s in evaluation.subsets:
        train = "-" if s.train_units is None else str(s.train_units)
        print(
            f"{s.name:8s} {train:>6s} {len(s.units):5d} {s.rmse:8.3f} {s.phm08:9.1f} "
            f" {', '.join(s.inputs)}"
        )
    interval = evaluation.interval
    if interval is None:
        print("interval: none (the model file has none)")
    else:
        print(
            f"interval at {interval['nominal']:.0%} nominal: coverage {interval['coverage']:.1%}"
            f" of the test units, mean width {interval['mean_width']:.1f}"
            f" {evaluation.output_unit}"
        )
    overall = evaluation.overall
    print(
        f"OVERALL over {overall['units']} test units: RMSE {overall['rmse']:.3f},"
        f" PHM08 score {overall['phm08']:.1f}"
    )
