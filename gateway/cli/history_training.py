"""`uvelka train anomaly|rul --history DATA_DIR --asset NAME`: a model trained on the asset's
own recorded inputs (issue #12), the same command the Models page's training job runs in
a child process (gateway.page.training_jobs).

The asset's inputs and `interval` come from the gateway's configuration (`--config`; the
page's job passes the running ones as `--inputs` and `--interval`). The history is read
read-only while a gateway may be writing, through the history export (one row per
interval, Good values only: gateway.cli.training_set), and trained on by the recipes of
`uvelka train` (analytics.training). `anomaly`: the envelope recipe, normal-only; with
`--labels`, the supervised recipe on the ranges labelled anomaly. `rul`: the RUL recipe on
the runs to failure the maintenance log marks: each period ended by a `resets_life` entry.

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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.commands import UsageError, reporting_errors
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


def add_history_source(anomaly: argparse.ArgumentParser, rul: argparse.ArgumentParser) -> None:
    """Give `train anomaly` and `train rul` the gateway's history as a source of data."""
    for parser, train in ((anomaly, _train_anomaly), (rul, _train_rul)):
        group = parser.add_argument_group("from the gateway's own history (instead of --data)")
        group.add_argument(
            "--history",
            type=Path,
            metavar="DATA_DIR",
            help="the gateway's data_dir: train on the asset's recorded inputs",
        )
        group.add_argument("--asset", metavar="NAME", help="the asset to train for")
        group.add_argument(
            "-c",
            "--config",
            type=Path,
            metavar="FILE",
            help="the gateway's TOML file (the asset's inputs and interval)",
        )
        group.add_argument(
            "--from",
            dest="start",
            metavar="ISO",
            help="start of the range (default: the oldest history)",
        )
        group.add_argument(
            "--to",
            dest="end",
            metavar="ISO",
            help="end of the range, not included (default: the newest)",
        )
        group.add_argument(
            "--leave-out",
            action="append",
            default=[],
            metavar="FROM/TO",
            help="a range not to learn from (a fault, a test run); repeatable",
        )
        if parser is anomaly:
            group.add_argument(
                "--anomaly-range",
                action="append",
                default=[],
                metavar="FROM/TO",
                help="a range labelled anomaly: left out of a normal-only model, learnt"
                " from by --labels, and the truth of precision/recall; repeatable",
            )
        # The page's job: the running configuration, its progress and its bounds.
        for flag in ("--inputs", "--interval", "--memory-mib", "--cpu-s"):
            group.add_argument(flag, help=argparse.SUPPRESS)
        group.add_argument("--progress-json", action="store_true", help=argparse.SUPPRESS)
        parser.set_defaults(handler=partial(_dispatch, parser.get_default("handler"), train))


def _dispatch(
    plain: Callable[[argparse.Namespace], int],
    train: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
) -> int:
    if args.history is None:
        return plain(args)
    return reporting_errors(f"train {args.target}", lambda: train(args))


def _train_anomaly(args: argparse.Namespace) -> int:
    source, selection, progress = _prepare(args)
    if args.reference is not None:
        raise UsageError("--reference is for --data; from history the asset's own rows serve")
    with tempfile.TemporaryDirectory(prefix="uvelka-train-") as folder:
        recording, what = asyncio.run(_read(args, source, Path(folder), progress))
    rows = TrainingRows.of(
        source.asset, recording.timestamps, recording.values, recording.signals, selection, what
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
        "held_back_from": str(rows.times[rows.held_from]) + "Z",
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
        "labels_used": len(selection.anomalous),
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

    source, selection, progress = _prepare(args)
    runs = asyncio.run(_runs_to_failure(args.history, source.asset))
    with tempfile.TemporaryDirectory(prefix="uvelka-train-") as name:
        folder = Path(name)
        for number, run in enumerate(runs, start=1):
            run_args = argparse.Namespace(**{**vars(args), "start": run.start, "end": run.end})
            asyncio.run(_read(run_args, source, folder, progress, f"run-{number:03d}"))
        dataset = load_recordings(folder)
        data = rul.recording_runs(dataset.recordings, folder, unit=args.unit or "h")
        progress("fitting", 0.0)
        fit = rul.fit_rul(data, args.cap, args.signals, args.seed)
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
        },
        f"{len(runs)} runs to failure, {len(data.runs)} rows",
    )
    return 0


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
