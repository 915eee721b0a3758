"""`uvelka train anomaly|rul --history DATA_DIR --asset NAME`: a model trained on the asset's
own recorded inputs (issue #12), the same command the Models page's training job runs in
a child process (gateway.page.training_jobs).

The asset's inputs and `interval` come from the gateway's configuration (`--config`; the
page's job passes the running ones as `--inputs` and `--interval`). The history is read
read-only while a gateway may be writing, through the history export (one row per
interval, Good values only: gateway.cli.training_set), and trained on by the recipes of
`uvelka train` (analytics.training). `anomaly`: the envelope recipe, normal-only; with
`--labels`, the supervised recipe on the ranges labelled anomaly. `rul`: the RUL recipe with
its prediction interval (analytics.training.rul_calibration) on the runs to failure the
maintenance log marks: each period ended by a `resets_life` entry.

What the experts said on the page is used too (`<data_dir>/labels.sqlite`, read while the
gateway writes it: gateway.store.labels): ranges labelled `anomaly` and the alarms of the
asset's models judged `confirmed` are anomalous (left out of a normal-only model, learnt
from by `--labels`, the truth of precision/recall), ranges labelled `unsure` are left out;
the manifest lists the labels and verdicts used (`history.labels_used`).

With `--progress-json` (the page's job) each stage is a JSON line on stdout and the
outcome the last; `--memory-mib`/`--cpu-s` bound the process once its libraries are
imported (analytics.model_check.bound_self: address space, CPU time, lowered priority).
Errors are one line on stderr, exit status 2, as for every `uvelka train`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.commands import UsageError
from gateway.cli.training_set import (
    Selection,
    TimeRange,
    TrainingError,
    TrainingRows,
    decisions,
    parse_time,
    validate,
)
from gateway.config import ConfigError, load_config
from gateway.config.model import HistorySection
from gateway.store.history_export import (
    EPOCH,
    FILE_NAME,
    ExportError,
    columns_of,
    csv_text,
    open_read_only,
)
from gateway.store.history_query import Grid
from gateway.store.history_span import Span, span_of
from gateway.store.labels import FILE_NAME as LABELS_FILE
from gateway.store.labels import LabelStore
from gateway.store.labels import NotStored as LabelsNotStored
from gateway.store.maintenance_log import MaintenanceLog

if TYPE_CHECKING:
    from analytics.manifest import Manifest
    from analytics.training.datasets import Recording

MAINTENANCE_FILE = "maintenance.sqlite"  # in data_dir (gateway.app)


@dataclasses.dataclass(frozen=True, slots=True)
class AssetSource:
    """What the history holds of an asset: its inputs (model name -> history key) and the
    interval its rows are sampled at."""

    asset: str
    inputs: dict[str, str]
    interval_s: float
    retention_s: float  # [history] retention: nothing older is kept


class Progress:
    """Stages for a person (stderr) or for the page's job (JSON lines on stdout)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, stage: str, fraction: float) -> None:
        if self.as_json:
            self.emit({"stage": stage, "fraction": round(fraction, 3)})
        else:
            print(f"{stage}: {fraction:.0%}", file=sys.stderr, flush=True)

    @staticmethod
    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line), flush=True)


def train(args: argparse.Namespace) -> int:
    """`uvelka train anomaly|rul --history ...`, whose arguments gateway.cli.history_source
    adds."""
    return _train_anomaly(args) if args.target == "anomaly" else _train_rul(args)


def _train_anomaly(args: argparse.Namespace) -> int:
    source, selection, progress = _prepare(args)
    if args.reference is not None:
        raise UsageError("--reference is for --data; from history the asset's own rows serve")
    with tempfile.TemporaryDirectory(prefix="uvelka-train-") as folder:
        recording, what = asyncio.run(_read(args, source, Path(folder), progress))
    times = recording.timestamps
    trained = TimeRange(_utc(times[0]), _utc(times[-1]) + timedelta(seconds=source.interval_s))
    expert = asyncio.run(_expert_selection(args.history, source.asset))
    selection = selection.joined(expert.overlapping(trained))
    rows = TrainingRows.of(
        source.asset,
        recording.timestamps,
        recording.values,
        recording.signals,
        selection,
        what,
        supervised=args.labels,
    )
    progress("fitting", 0.0)
    if args.labels:
        manifest, figures, model = _fit_labelled(rows, args)
    else:
        manifest, figures, model = _fit_envelope(rows, args)
    progress("fitting", 1.0)
    history = {
        "asset": source.asset,
        "range": rows.range_text(),
        "interval_s": source.interval_s,
        "rows": len(rows.times),
        "good_rows": rows.good_rows,
        "held_back_from": None if args.labels else str(rows.times[rows.held_from]) + "Z",
        **selection.describe(),
    }
    manifest = dataclasses.replace(
        manifest,
        recipe=dataclasses.replace(
            manifest.recipe, params={**manifest.recipe.params, "history": history}
        ),
        metrics={**manifest.metrics, **figures.metrics()},
    )
    _export(model, manifest, args.out, progress)
    result = {
        "kind": "anomaly",
        "out": str(args.out),
        "recipe": manifest.recipe.name,
        "inputs": list(manifest.inputs),
        "data_sha256": manifest.data.sha256,
        **history,
        "validation": figures.to_json(),
    }
    _report(
        args,
        result,
        f"held-back false alarms {figures.false_alarm_rate:.2%} of "
        f"{figures.held_back_windows} windows"
        + (
            f"; precision {figures.precision}, recall {figures.recall}"
            if figures.labelled_windows
            else ""
        ),
    )
    return 0


def _fit_envelope(rows: TrainingRows, args: argparse.Namespace) -> tuple[Manifest, Any, Any]:
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import anomaly

    normal = rows.normal
    allowance = anomaly.DriftAllowance(rows.signals, None, 0, len(normal))
    fit = anomaly.fit_envelope(normal[: rows.held_from], allowance, args.signals)
    normal_scores, ends = fit.window_scores(normal)
    scores, _ = fit.window_scores(rows.values)
    figures = validate(
        rows,
        decisions(normal_scores, anomaly.THRESHOLD),
        decisions(scores, anomaly.THRESHOLD),
        ends,
    )
    data = TrainingData(fingerprint(normal[: rows.held_from]), _source_text(rows, "normal"))
    return fit.manifest(args.name or args.out.stem, data), figures, fit.detector


def _fit_labelled(rows: TrainingRows, args: argparse.Namespace) -> tuple[Manifest, Any, Any]:
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import anomaly
    from analytics.training.datasets import Recording
    from gateway.cli.training_set import Validation

    if not rows.anomalous.any():
        raise TrainingError(
            f"asset {rows.asset!r}: --labels learns from ranges labelled "
            "anomaly, and none lies in the range (--anomaly-range)"
        )
    values = rows.values.copy()
    values[rows.left_out & ~rows.anomalous] = float("nan")  # left out by hand: not learnt
    recording = Recording(rows.asset, rows.times, values, rows.signals, rows.anomalous, None)
    fit = anomaly.fit_labelled([recording], args.signals, args.seed)
    cv = fit.validation  # out of fold: contiguous blocks of the range, never shuffled
    figures = Validation(
        cv.far or 0.0,
        cv.fp + cv.tn,
        cv.tp / (cv.tp + cv.fp) if cv.tp + cv.fp else None,
        cv.tp / (cv.tp + cv.fn) if cv.tp + cv.fn else None,
        cv.tp + cv.fn,
    )
    data = TrainingData(fingerprint(values, rows.anomalous), _source_text(rows, "labelled"))
    return fit.manifest(args.name or args.out.stem, data), figures, fit.classifier


def _source_text(rows: TrainingRows, what: str) -> str:
    return (
        f"history of asset {rows.asset} {rows.range_text()}: {len(rows.times)} rows,"
        f" {rows.good_rows} with every input Good ({what})"
    )


def _export(model: Any, manifest: Manifest, out: Path, progress: Progress) -> None:
    """Write the model as `uvelka train` does: the envelope and RUL in double (their
    constants are float64), the classifier in skl2onnx's default."""
    from analytics.training.anomaly import LABELLED_RECIPE
    from analytics.training.export import export_onnx

    progress("writing the model", 0.0)
    if manifest.recipe.name == LABELLED_RECIPE:
        export_onnx(model, manifest.n_features, manifest, out)
    else:
        export_onnx(model, manifest.n_features, manifest, out, dtype="float64")
    progress("writing the model", 1.0)


def _train_rul(args: argparse.Namespace) -> int:
    from analytics.manifest import TrainingData, fingerprint
    from analytics.training import rul
    from analytics.training.datasets import load_recordings
    from analytics.training.rul_calibration import fit_rul_with_interval

    source, selection, progress = _prepare(args)
    runs = asyncio.run(_runs_to_failure(args.history, source.asset))
    with tempfile.TemporaryDirectory(prefix="uvelka-train-") as name:
        folder = Path(name)
        for number, run in enumerate(runs, start=1):
            # The first run starts with the history (a query from 1970 would take hours).
            start = None if run.start == EPOCH else run.start
            run_args = argparse.Namespace(**{**vars(args), "start": start, "end": run.end})
            asyncio.run(_read(run_args, source, folder, progress, f"run-{number:03d}"))
        dataset = load_recordings(folder)
        data = rul.recording_runs(dataset.recordings, folder, unit=args.unit or "h")
        progress("fitting with its interval", 0.0)
        fit = fit_rul_with_interval(data, args.cap, args.signals, args.seed)
    training = TrainingData(
        fingerprint(data.values, data.runs, data.remaining),
        f"history of asset {source.asset}: {len(runs)} runs to failure between resets_life"
        " maintenance entries",
    )
    manifest = fit.manifest(args.name or args.out.stem, training, {})
    manifest = dataclasses.replace(
        manifest,
        recipe=dataclasses.replace(
            manifest.recipe,
            params={
                **manifest.recipe.params,
                "history": {
                    "asset": source.asset,
                    "runs": [r.text() for r in runs],
                    "interval_s": source.interval_s,
                    **selection.describe(),
                },
            },
        ),
    )
    _export(fit.regressor, manifest, args.out, progress)
    _report(
        args,
        {
            "kind": "rul",
            "out": str(args.out),
            "asset": source.asset,
            "runs": [r.text() for r in runs],
            "data_sha256": manifest.data.sha256,
            "interval": None if fit.interval is None else fit.interval.nominal,
        },
        f"{len(runs)} runs to failure, {len(data.runs)} rows; "
        + (
            "no prediction interval (it needs 5 runs)"
            if fit.interval is None
            else f"a {fit.interval.nominal:.0%} prediction interval"
        ),
    )
    return 0


async def _expert_selection(data_dir: Path, asset: str) -> Selection:
    """The asset's stored labels and verdicts as ranges: labelled `anomaly` and alarms
    judged `confirmed` anomalous, labelled `unsure` left out (it may have been a fault). A
    verdict whose label is stored counts as that label, which the expert may have changed
    since."""
    path = data_dir / LABELS_FILE
    if not path.is_file():
        return Selection()
    try:
        async with LabelStore.open(path) as store:
            labels = await store.labels(assets=[asset])
            verdicts = await store.verdicts(assets=[asset])
    except LabelsNotStored as exc:
        raise TrainingError(f"cannot read the labels in {path}: {exc}") from None
    anomalous, leave_out, used = [], [], []
    for label in labels:
        span = TimeRange(label.start, label.end)
        if label.kind == "anomaly":
            anomalous.append(span)
        elif label.kind == "unsure":
            leave_out.append(span)
        else:
            continue
        used.append(
            {
                "label": str(label.id),
                "kind": label.kind,
                "range": span.text(),
                "fault_code": label.fault_code,
            }
        )
    labelled = {label.event_id for label in labels if label.event_id is not None}
    now = datetime.now(UTC)
    for verdict in verdicts:
        found = verdict.activation
        end = found.cleared or now
        if verdict.verdict != "confirmed" or found.event_id in labelled or end <= found.activated:
            continue
        span = TimeRange(found.activated, end)
        anomalous.append(span)
        used.append(
            {
                "event_id": str(found.event_id),
                "alarm": found.alarm,
                "verdict": "confirmed",
                "range": span.text(),
                "fault_code": verdict.draft.fault_code,
            }
        )
    return Selection(tuple(leave_out), tuple(anomalous), tuple(used))


def _utc(at: Any) -> datetime:
    """A row's time (numpy datetime64, UTC) as an aware datetime."""
    return datetime.fromisoformat(str(at)[:26]).replace(tzinfo=UTC)


async def _runs_to_failure(data_dir: Path, asset: str) -> list[TimeRange]:
    """The asset's periods that a `resets_life` entry ended (its part was replaced)."""
    path = data_dir / MAINTENANCE_FILE
    periods = []
    if path.is_file():
        async with MaintenanceLog.open(path) as log:
            periods = await log.normal_periods(asset)
    runs = [TimeRange(p.start or EPOCH, p.end) for p in periods if p.end is not None]
    if not runs:
        raise TrainingError(
            f"asset {asset!r}: no run to failure in {data_dir}: a run is a period ended by a"
            " maintenance entry with resets_life (a replacement), and the log has none for it"
        )
    return runs


def _prepare(args: argparse.Namespace) -> tuple[AssetSource, Selection, Progress]:
    """The asset, the ranges, and the bounds of this process (libraries imported first)."""
    if args.data is not None:
        raise UsageError("give --data or --history, not both")
    if not args.asset:
        raise UsageError("--history needs --asset NAME")
    if args.memory_mib is not None:
        from analytics.model_check import bound_self

        # The libraries' own mappings are not the training's: imported before the bound.
        for module in (
            "analytics.training.anomaly",
            "analytics.training.rul",
            "analytics.training.export",
        ):
            importlib.import_module(module)
        bound_self(int(args.memory_mib), int(args.cpu_s or 3600))
    selection = Selection(
        tuple(TimeRange.parse(text) for text in args.leave_out),
        tuple(TimeRange.parse(text) for text in getattr(args, "anomaly_range", [])),
    )
    return _asset_source(args), selection, Progress(args.progress_json)


def _asset_source(args: argparse.Namespace) -> AssetSource:
    if args.inputs is not None:
        pairs = (text.partition("=") for text in args.inputs.split(","))
        return AssetSource(
            args.asset,
            {name: key for name, _, key in pairs},
            float(args.interval or 1.0),
            HistorySection().retention,
        )
    if args.config is None:
        raise UsageError(
            "--config FILE: the gateway's configuration names the asset's inputs and interval"
        )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc).replace("\n", "; ")) from None  # it names the file
    asset = next((a for a in config.assets if a.name == args.asset), None)
    if asset is None:
        names = ", ".join(a.name for a in config.assets) or "none"
        raise UsageError(f"{args.config}: no asset {args.asset!r} (assets: {names})")
    if not asset.inputs:
        raise TrainingError(f"asset {args.asset!r} maps no inputs: nothing to train on")
    return AssetSource(asset.name, dict(asset.inputs), asset.interval, config.history.retention)


async def _read(
    args: argparse.Namespace,
    source: AssetSource,
    folder: Path,
    progress: Progress,
    name: str | None = None,
) -> tuple[Recording, str]:
    """The asset's inputs over the asked range, one row per interval, Good values only,
    through the history export's CSV and the training reader; and the range in words."""
    from analytics.training.datasets import read_recording

    try:
        async with open_read_only(args.history / FILE_NAME) as (reader, ids):
            try:
                columns = columns_of([f"{n}={k}" for n, k in source.inputs.items()], ids)
            except ExportError as exc:
                raise TrainingError(
                    f"asset {source.asset!r} has no recorded inputs: {exc}"
                    " (is [history] on, and the tag polled?)"
                ) from None
            start, end = await _range(args, reader.read, ids, source)
            step = timedelta(seconds=source.interval_s)
            file = folder / f"{name or source.asset}.csv"
            slices = max(1, -(-((end - start) // step) // 10_000))
            with file.open("w", encoding="utf-8") as out:
                done = 0
                async for text in csv_text(reader, ids, columns, start, end, step, good_only=True):
                    out.write(text)
                    done += 1
                    progress("reading the history", min(done / (slices + 1), 1.0))
    except ExportError as exc:
        raise TrainingError(str(exc)) from None
    what = f"{start.isoformat()}/{end.isoformat()} at {source.interval_s:g} s"
    return read_recording(file, file.stem), what


async def _range(
    args: argparse.Namespace, read: Any, ids: dict[str, int], source: AssetSource
) -> tuple[datetime, datetime]:
    start = _as_time(args.start)
    end = _as_time(args.end)
    if start is None or end is None:
        keys = list(source.inputs.values())

        async def query(names: Any, lo: datetime, hi: datetime, n: int) -> Any:
            return await read({k: ids.get(k) for k in names}, Grid.over(lo, hi, n))

        # Retention bounds what can be there (and a query from 1970 would cost minutes).
        now = datetime.now(UTC)
        oldest = max(EPOCH, now - timedelta(seconds=source.retention_s))
        span: Span | None = await span_of(query, keys, start or oldest, end or now)
        if span is None:
            raise TrainingError(f"asset {source.asset!r}: its inputs have no history in range")
        start = start or span.first
        end = end or span.last + timedelta(seconds=source.interval_s)
    return start, end


def _as_time(value: str | datetime | None) -> datetime | None:
    return value if value is None or isinstance(value, datetime) else parse_time(value)


def _report(args: argparse.Namespace, result: dict[str, Any], summary: str) -> None:
    if args.progress_json:
        Progress.emit({"result": result})
    else:
        print(f"model: {args.out} (asset {result['asset']}; {summary})")
        print(f"training data fingerprint: {result['data_sha256']}")
