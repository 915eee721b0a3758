"""Training and evaluation data, found by layout (file shapes), never by file names.

Two layouts:

- *Recordings*: CSV files, one recording each, with a header row; the first column is the
  time (ISO 8601, with or without a UTC offset), the others are numbers (an empty cell is a
  missing sample, NaN), and the optional columns `anomaly` and `changepoint` are 0/1 labels.
  The delimiter is whatever the header uses, `;` or `,`. This covers both a SKAB folder
  (any sub-folders of `;`-separated files with labels, plus `anomaly-free/` files without)
  and the CSV the gateway's history export writes (`uvelka history export`,
  `/api/history?format=csv`). `load_recordings`.
- *C-MAPSS*: `train_<subset>.txt`, `test_<subset>.txt` and `RUL_<subset>.txt` for any
  subsets, space-separated numbers, 26 per line: unit, cycle, 3 operational settings,
  21 sensors. `load_cmapss`.

Every error names the file, the line (1-based, as an editor shows it) and what was expected.
numpy and the csv module only: no pandas on an edge device.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

LABEL_COLUMNS = ("anomaly", "changepoint")
# Sensor symbols of Saxena et al. (2008), table 2, in file order (columns 6-26).
CMAPSS_SENSORS: tuple[str, ...] = (
    "T2", "T24", "T30", "T50", "P2", "P15", "P30", "Nf", "Nc", "epr", "Ps30",
    "phi", "NRf", "NRc", "BPR", "farB", "htBleed", "Nf_dmd", "PCNfR_dmd", "W31", "W32",
)  # fmt: skip
CMAPSS_SETTINGS: tuple[str, ...] = ("setting1", "setting2", "setting3")
_CMAPSS_COLUMNS = 2 + len(CMAPSS_SETTINGS) + len(CMAPSS_SENSORS)

Layout = Literal["cmapss", "recordings"]


class DatasetError(ValueError):
    """A file or folder does not match the layout it was read as."""


@dataclass(frozen=True, eq=False)
class Recording:
    """One CSV file: rows of samples of named signals, with optional per-row labels."""

    name: str  # path relative to the dataset root, "/"-separated
    timestamps: np.ndarray  # datetime64[us], strictly increasing; UTC if the file had offsets
    values: np.ndarray  # float64 (n_rows, n_signals); NaN = missing sample
    signals: tuple[str, ...]
    labels: np.ndarray | None  # bool (n_rows,) from `anomaly`; None: no such column
    changepoints: np.ndarray | None  # bool (n_rows,) from `changepoint`; None: no such column


@dataclass(frozen=True, eq=False)
class RecordingSet:
    """Recordings that share their signals (same names, same order)."""

    root: Path
    signals: tuple[str, ...]
    recordings: tuple[Recording, ...]

    @property
    def labelled(self) -> tuple[Recording, ...]:
        """Recordings with an `anomaly` column (SKAB's experiments)."""
        return tuple(r for r in self.recordings if r.labels is not None)

    @property
    def unlabelled(self) -> tuple[Recording, ...]:
        """Recordings without labels (SKAB's anomaly-free/: normal operation only)."""
        return tuple(r for r in self.recordings if r.labels is None)


@dataclass(frozen=True, eq=False)
class Runs:
    """One C-MAPSS file: rows of (unit, cycle, settings, sensors), each unit's rows together."""

    units: np.ndarray  # int64 (n_rows,)
    cycles: np.ndarray  # int64 (n_rows,), increasing within a unit
    settings: np.ndarray  # float64 (n_rows, 3)
    sensors: np.ndarray  # float64 (n_rows, 21), columns as CMAPSS_SENSORS

    def by_unit(self) -> Iterator[tuple[int, slice]]:
        """(unit id, its rows) in file order."""
        starts = np.flatnonzero(np.r_[True, self.units[1:] != self.units[:-1]])
        ends = np.r_[starts[1:], len(self.units)]
        for start, end in zip(starts, ends, strict=True):
            yield int(self.units[start]), slice(int(start), int(end))

    def remaining_cycles(self) -> np.ndarray:
        """Per row, its unit's last cycle minus its cycle: the true RUL of a run to failure."""
        last = np.empty_like(self.cycles)
        for _, rows in self.by_unit():
            last[rows] = self.cycles[rows.stop - 1]
        return last - self.cycles


@dataclass(frozen=True, eq=False)
class CmapssSubset:
    """One subset (e.g. FD001): training runs to failure, and test runs with their true RUL."""

    name: str
    train: Runs
    test: Runs | None
    test_rul: np.ndarray | None  # int64, one per test unit in file order: RUL after its last row


def detect_layout(path: Path) -> Layout:
    """ "cmapss" for a folder with train_*.txt, "recordings" for a CSV file or folder of them."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return "recordings"
        raise DatasetError(f"{path}: expected a .csv file or a dataset folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such file or folder")
    if any(path.glob("train_*.txt")):
        return "cmapss"
    if any(_csv_files(path)):
        return "recordings"
    raise DatasetError(
        f"{path}: neither C-MAPSS (train_*.txt) nor recordings (*.csv, in any sub-folder)"
    )


def load_recordings(path: Path) -> RecordingSet:
    """Read one CSV file, or every *.csv under a folder (sub-folders included, dot-files not)."""
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
    else:
        root, files = path, sorted(_csv_files(path), key=lambda f: _natural(f.relative_to(path)))
    if not files:
        raise DatasetError(f"{path}: no .csv files")
    recordings = tuple(read_recording(f, f.relative_to(root).as_posix()) for f in files)
    first = recordings[0]
    for recording in recordings[1:]:
        if recording.signals != first.signals:
            raise DatasetError(
                f"{root / recording.name}: signals {list(recording.signals)} differ from"
                f" {first.name}'s {list(first.signals)}; a dataset needs the same columns"
                " in every file"
            )
    return RecordingSet(root=root, signals=first.signals, recordings=recordings)


def read_recording(path: Path, name: str | None = None) -> Recording:
    """Read one CSV recording (layout in the module docstring); `name` defaults to the file's."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            header_line = file.readline()
            delimiter = ";" if ";" in header_line else ","
            header = [c.strip() for c in next(csv.reader([header_line], delimiter=delimiter), [])]
            rows = list(csv.reader(file, delimiter=delimiter))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    _check_header(path, header)
    # Line numbers: the header is line 1; blank lines (often one at the end) are skipped.
    numbered = [(i, row) for i, row in enumerate(rows, start=2) if any(c.strip() for c in row)]
    if not numbered:
        raise DatasetError(f"{path}: a header but no data rows")
    for line, row in numbered:
        if len(row) != len(header):
            raise DatasetError(
                f"{path}:{line}: {len(row)} fields, the header has {len(header)}"
                f" (delimiter {delimiter!r})"
            )
    lines = [line for line, _ in numbered]
    cells = np.array([row for _, row in numbered], dtype=str)
    timestamps = _timestamps(path, lines, cells[:, 0])
    numbers = _floats(path, lines, header, cells, columns=range(1, len(header)))
    signal_columns = [c for c in range(1, len(header)) if header[c] not in LABEL_COLUMNS]
    labels = {
        name: _flags(path, lines, name, numbers[:, header.index(name) - 1])
        for name in LABEL_COLUMNS
        if name in header
    }
    return Recording(
        name=name or path.name,
        timestamps=timestamps,
        values=numbers[:, [c - 1 for c in signal_columns]],
        signals=tuple(header[c] for c in signal_columns),
        labels=labels.get("anomaly"),
        changepoints=labels.get("changepoint"),
    )


def load_cmapss(folder: Path) -> dict[str, CmapssSubset]:
    """Every subset in `folder` by name ("FD001", ...), in name order."""
    folder = Path(folder)
    subsets = {}
    for train in sorted(folder.glob("train_*.txt")):
        name = train.stem.removeprefix("train_")
        test, rul = folder / f"test_{name}.txt", folder / f"RUL_{name}.txt"
        if test.exists() != rul.exists():
            missing = rul if test.exists() else test
            raise DatasetError(f"{missing}: missing (test runs need their true RUL, and back)")
        test_runs = _read_runs(test) if test.exists() else None
        test_rul = _read_rul(rul, test_runs) if test_runs is not None else None
        subsets[name] = CmapssSubset(name, _read_runs(train), test_runs, test_rul)
    if not subsets:
        raise DatasetError(f"{folder}: no train_*.txt (C-MAPSS layout)")
    return subsets


def _csv_files(folder: Path) -> Iterator[Path]:
    for file in folder.rglob("*.csv"):
        if file.is_file() and not any(
            part.startswith(".") for part in file.relative_to(folder).parts
        ):
            yield file


def _natural(path: Path) -> list[tuple[int, int | str]]:
    """Sort key: valve1/2.csv before valve1/10.csv."""
    return [
        (0, int(token)) if token.isdigit() else (1, token)
        for token in re.split(r"(\d+)", path.as_posix())
        if token
    ]


def _check_header(path: Path, header: Sequence[str]) -> None:
    if len(header) < 2:
        raise DatasetError(
            f"{path}:1: expected a header 'time<delimiter>signal...' with at least one signal,"
            f" got {list(header)}"
        )
    if not all(header):
        raise DatasetError(f"{path}:1: empty column name in the header {list(header)}")
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise DatasetError(f"{path}:1: column(s) {repeated} appear more than once")
    if all(c in LABEL_COLUMNS for c in header[1:]):
        raise DatasetError(f"{path}:1: only label columns, no signal: {list(header)}")


def _timestamps(path: Path, lines: Sequence[int], texts: np.ndarray) -> np.ndarray:
    parsed: list[datetime] = []
    for line, text in zip(lines, texts.tolist(), strict=True):
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise DatasetError(
                f"{path}:{line}: time {text!r} is not ISO 8601 (e.g. 2020-03-09 10:14:33)"
            ) from None
        if parsed and (moment.tzinfo is None) != (parsed[0].tzinfo is None):
            raise DatasetError(f"{path}:{line}: mixes times with and without a UTC offset")
        parsed.append(moment)
    if parsed[0].tzinfo is not None:
        parsed = [moment.astimezone(UTC).replace(tzinfo=None) for moment in parsed]
    timestamps = np.array(parsed, dtype="datetime64[us]")
    backwards = np.flatnonzero(timestamps[1:] <= timestamps[:-1])
    if backwards.size:
        line = lines[backwards[0] + 1]
        raise DatasetError(
            f"{path}:{line}: time {str(texts[backwards[0] + 1])!r} is not after the row before"
        )
    return timestamps


def _floats(
    path: Path, lines: Sequence[int], header: Sequence[str], cells: np.ndarray, columns: range
) -> np.ndarray:
    texts = np.char.strip(cells[:, columns.start : columns.stop])
    texts[texts == ""] = "nan"
    try:
        return texts.astype(np.float64)
    except ValueError as exc:
        error = exc
    # Slow path, only to say where: the first cell that is not a number.
    for row, line in enumerate(lines):
        for offset, text in enumerate(texts[row].tolist()):
            try:
                float(text)
            except ValueError:
                column = header[columns.start + offset]
                raise DatasetError(
                    f"{path}:{line}: column {column!r}: {text!r} is not a number"
                ) from None
    # numpy refused a cell that Python's float() reads (e.g. "1_000"): say what numpy said.
    raise DatasetError(f"{path}: {error}") from error


def _flags(path: Path, lines: Sequence[int], column: str, values: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        raise DatasetError(
            f"{path}:{lines[bad[0]]}: column {column!r} must be 0 or 1, got {values[bad[0]]}"
        )
    return values == 1


def _read_runs(path: Path) -> Runs:
    rows: list[list[str]] = []
    lines: list[int] = []
    with path.open(encoding="ascii", errors="replace") as file:
        for line, text in enumerate(file, start=1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) != _CMAPSS_COLUMNS:
                raise DatasetError(
                    f"{path}:{line}: {len(fields)} numbers, expected {_CMAPSS_COLUMNS}"
                    " (unit, cycle, 3 settings, 21 sensors)"
                )
            rows.append(fields)
            lines.append(line)
    if not rows:
        raise DatasetError(f"{path}: no data")
    header = ["unit", "cycle", *CMAPSS_SETTINGS, *CMAPSS_SENSORS]
    numbers = _floats(path, lines, header, np.array(rows, dtype=str), range(_CMAPSS_COLUMNS))
    ids = numbers[:, :2]
    fractional = np.flatnonzero((ids != np.round(ids)).any(axis=1))
    if fractional.size:
        raise DatasetError(f"{path}:{lines[fractional[0]]}: unit and cycle must be integers")
    units, cycles = ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64)
    runs = Runs(units, cycles, numbers[:, 2:5], numbers[:, 5:])
    _check_runs(path, lines, runs)
    return runs


def _check_runs(path: Path, lines: Sequence[int], runs: Runs) -> None:
    seen: set[int] = set()
    for unit, rows in runs.by_unit():
        if unit in seen:
            raise DatasetError(
                f"{path}:{lines[rows.start]}: unit {unit} again after other units;"
                " each unit's rows must be together"
            )
        seen.add(unit)
        steps = np.flatnonzero(np.diff(runs.cycles[rows]) <= 0)
        if steps.size:
            line = lines[rows.start + steps[0] + 1]
            raise DatasetError(f"{path}:{line}: unit {unit}'s cycles must increase")


def _read_rul(path: Path, test: Runs) -> np.ndarray:
    values = []
    with path.open(encoding="ascii", errors="replace") as file:
        for line, text in enumerate(file, start=1):
            fields = text.split()
            if not fields:
                continue
            if len(fields) != 1 or not fields[0].isdigit():
                raise DatasetError(
                    f"{path}:{line}: expected one whole number of cycles, got {text.strip()!r}"
                )
            values.append(int(fields[0]))
    n_units = sum(1 for _ in test.by_unit())
    if len(values) != n_units:
        raise DatasetError(f"{path}: {len(values)} values, but the test file has {n_units} units")
    return np.array(values, dtype=np.int64)
