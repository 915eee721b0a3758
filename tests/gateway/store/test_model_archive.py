"""The model archive on real files with the shipped models: versions, index, reopen."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.inference import Model
from gateway.store.model_archive import INDEX_NAME, Activation, ModelArchive
from tests.fixtures.model_files import restamped

MODELS = Path(__file__).resolve().parents[3] / "models_onnx"
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def shipped(name: str) -> tuple[bytes, Model]:
    data = (MODELS / name).read_bytes()
    return data, Model.from_bytes(data, name)


def test_a_stored_version_is_kept_once_and_read_back(tmp_path: Path) -> None:
    archive = ModelArchive.open(tmp_path, ["pump.onnx"])
    data, model = shipped("pump_anomaly.onnx")

    entry, new = archive.store("pump.onnx", data, model, "anna", "upload", NOW)
    again, new_again = archive.store("pump.onnx", data, model, "ben", "upload", NOW)

    assert (new, new_again) == (True, False)
    assert again == entry
    assert (entry.version, entry.uploaded_by, entry.origin) == (model.version, "anna", "upload")
    assert entry.created == model.manifest.created
    assert archive.read("pump.onnx", model.version) == data
    assert archive.index("pump.onnx").versions == (entry,)
    assert (tmp_path / "pump" / entry.file).is_file()
    with pytest.raises(KeyError):
        archive.read("pump.onnx", "no/such/version")


def test_versions_are_told_apart_by_their_content_not_their_manifest(tmp_path: Path) -> None:
    """Issue #17: two files with one manifest are two versions, each kept and read back."""
    archive = ModelArchive.open(tmp_path, ["pump.onnx"])
    data, model = shipped("pump_anomaly.onnx")
    other_data = restamped(data)
    other = Model.from_bytes(other_data, "restamped")
    assert other.manifest == model.manifest

    first, _ = archive.store("pump.onnx", data, model, "anna", "upload", NOW)
    second, new = archive.store("pump.onnx", other_data, other, "ben", "upload", NOW)

    assert new
    assert second.version != first.version
    assert (second.version, second.uploaded_by) == (other.version, "ben")
    assert [entry.sha256 for entry in archive.index("pump.onnx").versions] == [
        hashlib.sha256(data).hexdigest(), hashlib.sha256(other_data).hexdigest()]
    assert archive.read("pump.onnx", first.version) == data
    assert archive.read("pump.onnx", second.version) == other_data


def test_the_index_survives_a_reopen_with_its_activations(tmp_path: Path) -> None:
    archive = ModelArchive.open(tmp_path, ["pump.onnx", "sub/pump.onnx"])
    (a_data, a), (b_data, b) = shipped("pump_anomaly.onnx"), shipped("pump_rul.onnx")
    archive.store("pump.onnx", a_data, a, "anna", "in place", NOW)
    archive.store("pump.onnx", b_data, b, "ben", "upload", NOW)
    archive.activated("pump.onnx", Activation(a.version, NOW, None))
    archive.activated("pump.onnx", Activation(b.version, NOW, "ben"))
    archive.rolled_back("pump.onnx", Activation(a.version, NOW, "carl"))

    reopened = ModelArchive.open(tmp_path, ["pump.onnx", "sub/pump.onnx"])

    index = reopened.index("pump.onnx")
    assert index == archive.index("pump.onnx")
    assert [entry.version for entry in index.versions] == [a.version, b.version]
    assert index.activations == (Activation(a.version, NOW, "carl"),)
    assert index.current == a.version
    # Another file of the same name in a subfolder has its own archive folder.
    assert reopened.index("sub/pump.onnx").versions == ()
    assert reopened.folder("sub/pump.onnx") != reopened.folder("pump.onnx")
    assert reopened.folder("sub/pump.onnx").parent == tmp_path


def test_a_damaged_index_is_set_aside_and_the_archive_starts_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = ModelArchive(tmp_path).folder("pump.onnx")
    folder.mkdir()
    (folder / INDEX_NAME).write_text("{not json", encoding="utf-8")

    archive = ModelArchive.open(tmp_path, ["pump.onnx"])

    assert archive.index("pump.onnx").versions == ()
    assert (folder / f"{INDEX_NAME}.damaged").read_text(encoding="utf-8") == "{not json"
    assert "starts empty" in caplog.text
    data, model = shipped("pump_anomaly.onnx")
    archive.store("pump.onnx", data, model, "anna", "upload", NOW)
    written = json.loads((folder / INDEX_NAME).read_text(encoding="utf-8"))
    assert [item["version"] for item in written["versions"]] == [model.version]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "not an archive index of format 1"),
        ({"versions": [{"version": "v1"}]}, "versions[0].file: Field required"),
        ({"activations": [{"version": "v1", "at": "soon", "by": None}]},
         "activations[0].at: Input should be a valid datetime"),
    ],
)
def test_a_damaged_index_names_what_is_wrong_by_its_key_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict, message: str
) -> None:
    archive = ModelArchive.open(tmp_path, ["pump.onnx"])
    data, model = shipped("pump_anomaly.onnx")
    entry, _ = archive.store("pump.onnx", data, model, "anna", "upload", NOW)
    archive.activated("pump.onnx", Activation(entry.version, NOW, "anna"))
    index = archive.folder("pump.onnx") / INDEX_NAME
    assert ModelArchive.open(tmp_path, ["pump.onnx"]).index("pump.onnx") == archive.index(
        "pump.onnx"
    )  # what it wrote, it reads back

    index.write_text(json.dumps(json.loads(index.read_text()) | change), encoding="utf-8")
    assert ModelArchive.open(tmp_path, ["pump.onnx"]).index("pump.onnx").versions == ()
    assert message in caplog.text
