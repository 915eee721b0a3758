"""Dataset loaders: small fixtures written here, errors that point, and the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.training.datasets import (
    CMAPSS_SENSORS,
    DatasetError,
    detect_layout,
    load_cmapss,
    load_recordings,
    read_recording,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"

SKAB_HEADER = "datetime;Acc RMS;Current;Volume Flow RateRMS;anomaly;changepoint"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def skab_rows(start_second: int, labels: list[int]) -> str:
    rows = []
    for i, label in enumerate(labels):
        second = start_second + i
        rows.append(f"2020-03-09 10:14:{second:02d};0.02{i};1.3{i};32.0;{label}.0;0.0")
    return "\n".join(rows) + "\n"


@pytest.fixture
def skab(tmp_path: Path) -> Path:
    """A SKAB-like folder: labelled experiments in sub-folders, one anomaly-free file."""
    root = tmp_path / "skab"
    write(root / "valve1" / "10.csv", SKAB_HEADER + "\n" + skab_rows(0, [0, 0, 1]))
    write(root / "valve1" / "2.csv", SKAB_HEADER + "\n" + skab_rows(10, [0, 1, 1, 0]))
    write(root / "other" / "deep" / "1.csv", SKAB_HEADER + "\n" + skab_rows(20, [1, 0]))
    write(
        root / "anomaly-free" / "anomaly-free.csv",
        "datetime;Acc RMS;Current;Volume Flow RateRMS\n"
        "2020-02-08 13:30:47;0.2;2.1;122.6\n2020-02-08 13:30:48;0.3;2.0;122.3\n",
    )
    write(root / ".hidden" / "x.csv", "not;a;dataset\n")
    write(root / "notes.txt", "ignored\n")
    return root


def test_skab_layout(skab: Path) -> None:
    dataset = load_recordings(skab)
    assert detect_layout(skab) == "recordings"
    assert dataset.root == skab
    assert dataset.signals == ("Acc RMS", "Current", "Volume Flow RateRMS")
    assert [r.name for r in dataset.recordings] == [
        "anomaly-free/anomaly-free.csv",
        "other/deep/1.csv",
        "valve1/2.csv",  # natural order: 2 before 10
        "valve1/10.csv",
    ]
    assert [r.name for r in dataset.unlabelled] == ["anomaly-free/anomaly-free.csv"]
    assert len(dataset.labelled) == 3
    valve = dataset.recordings[2]
    assert valve.values.dtype == np.float64
    np.testing.assert_array_equal(
        valve.values,
        [[0.020, 1.30, 32.0], [0.021, 1.31, 32.0], [0.022, 1.32, 32.0], [0.023, 1.33, 32.0]],
    )
    assert valve.labels is not None
    assert valve.labels.tolist() == [False, True, True, False]
    assert valve.changepoints is not None
    assert not valve.changepoints.any()
    assert valve.timestamps[0] == np.datetime64("2020-03-09T10:14:10")
    assert valve.timestamps.dtype == np.dtype("datetime64[us]")
    normal = dataset.unlabelled[0]
    assert normal.labels is None
    assert normal.changepoints is None
    assert normal.values.shape == (2, 3)


def test_plain_csv_with_offsets_missing_cells_and_labels(tmp_path: Path) -> None:
    path = write(
        tmp_path / "history.csv",
        "timestamp,pump1.vibration,pump1.current,anomaly\n"
        "2025-11-26T08:00:00.250Z,0.5,12.5,0\n"
        "2025-11-26T10:00:01+02:00,,12.6,1\n"  # 08:00:01 UTC; the vibration read failed
        "2025-11-26T08:00:02Z, 0.7 ,12.4,0\n"
        "\n",
    )
    dataset = load_recordings(path)
    assert detect_layout(path) == "recordings"
    (recording,) = dataset.recordings
    assert recording.name == "history.csv"
    assert recording.signals == ("pump1.vibration", "pump1.current")
    assert recording.timestamps.tolist()[1] == np.datetime64("2025-11-26T08:00:01").tolist()
    assert recording.timestamps[0] == np.datetime64("2025-11-26T08:00:00.250")
    assert np.isnan(recording.values[1, 0])
    assert recording.values[2].tolist() == [0.7, 12.4]
    assert recording.labels is not None
    assert recording.labels.tolist() == [False, True, False]
    assert recording.changepoints is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "t,a\n2025-01-01 00:00:00,1\n2025-01-01 00:00:01,1,2\n",
            r"bad\.csv:3: 3 fields, the header has 2",
        ),
        ("t,a,b\n2025-01-01 00:00:00,1,x2\n", r"bad\.csv:2: column 'b': 'x2' is not a number"),
        ("t,a\n01/02/2025 10:00,1\n", r"bad\.csv:2: time '01/02/2025 10:00' is not ISO 8601"),
        (
            "t,a\n2025-01-01 00:00:01,1\n2025-01-01 00:00:01,2\n",
            r"bad\.csv:3: time '2025-01-01 00:00:01' is not after the row before",
        ),
        (
            "t,a\n2025-01-01 00:00:00Z,1\n2025-01-01 00:00:01,2\n",
            r"bad\.csv:3: mixes times with and without a UTC offset",
        ),
        ("t,a,anomaly\n2025-01-01 00:00:00,1,2\n", r"bad\.csv:2: column 'anomaly' must be 0 or 1"),
        ("t,a\n", r"bad\.csv: a header but no data rows"),
        ("t\n2025-01-01 00:00:00\n", r"bad\.csv:1: expected a header"),
        (
            "t,a,a\n2025-01-01 00:00:00,1,2\n",
            r"bad\.csv:1: column\(s\) \['a'\] appear more than once",
        ),
        ("t,anomaly\n2025-01-01 00:00:00,1\n", r"bad\.csv:1: only label columns"),
    ],
)
def test_recording_errors_point_at_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DatasetError, match=message):
        read_recording(path)


def test_byte_order_mark_is_ignored_and_other_encodings_refused(tmp_path: Path) -> None:
    text = "time;a\n2025-01-01 00:00:00;1.5\n"
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_recording(marked).signals == ("a",)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("time;débit\n2025-01-01 00:00:00;1.5\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"latin\.csv: not UTF-8 text"):
        read_recording(latin)


def test_recordings_must_share_their_signals(skab: Path) -> None:
    write(skab / "valve1" / "3.csv", "datetime;Current;Acc RMS\n2020-03-09 10:14:00;1;2\n")
    with pytest.raises(
        DatasetError, match=r"valve1/3\.csv: signals \['Current', 'Acc RMS'\] differ"
    ):
        load_recordings(skab)


def cmapss_line(unit: int, cycle: int, base: float) -> str:
    settings = "-0.0007 -0.0004 100.0"
    sensors = " ".join(f"{base + s / 100:.4f}" for s in range(len(CMAPSS_SENSORS)))
    return f"{unit} {cycle} {settings} {sensors}  \n"  # NASA's two trailing spaces


@pytest.fixture
def cmapss(tmp_path: Path) -> Path:
    """Two subsets: FD001 with test and RUL files, FD003 with training runs only."""
    root = tmp_path / "cmapss"
    train = [cmapss_line(1, c, 500 + c) for c in (1, 2, 3)] + [
        cmapss_line(2, c, 600 + c) for c in (1, 2, 3, 4, 5)
    ]
    write(root / "train_FD001.txt", "".join(train))
    write(
        root / "test_FD001.txt", cmapss_line(1, 1, 1) + cmapss_line(1, 2, 2) + cmapss_line(2, 1, 3)
    )
    write(root / "RUL_FD001.txt", "112 \n98 \n")
    write(root / "train_FD003.txt", cmapss_line(7, 1, 9))
    write(root / "readme.txt", "not data\n")
    return root


def test_cmapss_layout(cmapss: Path) -> None:
    assert detect_layout(cmapss) == "cmapss"
    subsets = load_cmapss(cmapss)
    assert list(subsets) == ["FD001", "FD003"]
    fd1 = subsets["FD001"]
    assert fd1.train.units.tolist() == [1, 1, 1, 2, 2, 2, 2, 2]
    assert fd1.train.cycles.tolist() == [1, 2, 3, 1, 2, 3, 4, 5]
    assert fd1.train.settings.shape == (8, 3)
    assert fd1.train.sensors.shape == (8, 21)
    assert fd1.train.sensors[0, :2].tolist() == [501.0, 501.01]
    assert [(u, (s.start, s.stop)) for u, s in fd1.train.by_unit()] == [(1, (0, 3)), (2, (3, 8))]
    assert fd1.train.remaining_cycles().tolist() == [2, 1, 0, 4, 3, 2, 1, 0]
    assert fd1.test is not None
    assert fd1.test.units.tolist() == [1, 1, 2]
    assert fd1.test_rul is not None
    assert fd1.test_rul.tolist() == [112, 98]
    fd3 = subsets["FD003"]
    assert fd3.test is None
    assert fd3.test_rul is None
    assert fd3.train.units.tolist() == [7]


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        ("train_FD001.txt", "1 1 2 3\n", r"train_FD001\.txt:1: 4 numbers, expected 26"),
        (
            "train_FD001.txt",
            cmapss_line(1, 1, 0) + cmapss_line(1, 2, 0).replace("100.0", "1OO.0"),
            r"train_FD001\.txt:2: column 'setting3': '1OO\.0' is not a number",
        ),
        (
            "train_FD001.txt",
            cmapss_line(1, 1, 0) + cmapss_line(2, 1, 0) + cmapss_line(1, 2, 0),
            r"train_FD001\.txt:3: unit 1 again after other units",
        ),
        (
            "train_FD001.txt",
            cmapss_line(1, 2, 0) + cmapss_line(1, 2, 0),
            r"train_FD001\.txt:2: unit 1's cycles must increase",
        ),
        ("RUL_FD001.txt", "112\n", r"RUL_FD001\.txt: 1 values, but the test file has 2 units"),
        ("RUL_FD001.txt", "112\n9.5\n", r"RUL_FD001\.txt:2: expected one whole number"),
    ],
)
def test_cmapss_errors_point_at_file_and_line(
    cmapss: Path, file: str, text: str, message: str
) -> None:
    write(cmapss / file, text)
    with pytest.raises(DatasetError, match=message):
        load_cmapss(cmapss)


def test_cmapss_test_runs_need_their_rul(cmapss: Path) -> None:
    (cmapss / "RUL_FD001.txt").unlink()
    with pytest.raises(DatasetError, match=r"RUL_FD001\.txt: missing"):
        load_cmapss(cmapss)


def test_unknown_layouts_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "empty" / "notes.txt", "x")
    with pytest.raises(DatasetError, match="neither C-MAPSS"):
        detect_layout(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no such file or folder"):
        detect_layout(tmp_path / "absent")
    with pytest.raises(DatasetError, match="expected a .csv file"):
        detect_layout(tmp_path / "empty" / "notes.txt")
    with pytest.raises(DatasetError, match="no .csv files"):
        load_recordings(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"no train_\*\.txt"):
        load_cmapss(tmp_path / "empty")


# The shared datasets ship beside the repository, here and in CI (README of each folder).
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared datasets not found at {SHARED}"
)


@needs_shared
def test_shared_skab_folder() -> None:
    dataset = load_recordings(SHARED / "skab")
    assert dataset.signals == (
        "Accelerometer1RMS",
        "Accelerometer2RMS",
        "Current",
        "Pressure",
        "Temperature",
        "Thermocouple",
        "Voltage",
        "Volume Flow RateRMS",
    )
    assert len(dataset.labelled) == 24
    assert [r.name for r in dataset.unlabelled] == ["anomaly-free/anomaly-free.csv"]
    assert dataset.unlabelled[0].values.shape == (9405, 8)
    rows = {r.name: len(r.values) for r in dataset.labelled}
    assert rows["valve1/0.csv"] == 1147
    assert rows["other/2.csv"] == 780
    for recording in dataset.labelled:
        assert recording.labels is not None
        assert 0 < recording.labels.mean() < 1
        assert np.isfinite(recording.values).all()


@needs_shared
def test_shared_cmapss_fd001() -> None:
    fd1 = load_cmapss(SHARED / "cmapss-fd001")["FD001"]
    assert fd1.train.sensors.shape == (20631, 21)
    assert len(list(fd1.train.by_unit())) == 100
    lengths = [s.stop - s.start for _, s in fd1.train.by_unit()]
    assert (min(lengths), max(lengths)) == (128, 362)
    assert fd1.test is not None
    assert fd1.test.sensors.shape == (13096, 21)
    assert fd1.test_rul is not None
    assert len(fd1.test_rul) == 100
    assert (fd1.test_rul.min(), fd1.test_rul.max(), int((fd1.test_rul > 125).sum())) == (7, 145, 11)


@needs_shared
def test_shared_plain_csv() -> None:
    (recording,) = load_recordings(SHARED / "nab-ambient-temperature").recordings
    assert recording.signals == ("value",)
    assert recording.labels is None
    assert len(recording.values) > 7000
