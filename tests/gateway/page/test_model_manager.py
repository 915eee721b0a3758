"""Model management in the running gateway: uploads checked as hot reload checks files,
activation and roll back seen by OPC UA clients without a restart, the archive kept."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from asyncua import ua

from analytics.model_file import write_atomically
from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from gateway.page.model_manager import (
    MAX_MODEL_BYTES,
    ModelInfo,
    ModelManager,
    ModelRequestError,
    file_names,
)
from tests.fixtures.assets import (
    CENTRE,
    config_for,
    good,
    normal_recording,
    serve_values,
    train,
)
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.model_files import constant_of_shape, endless_loop, restamped

BOTH = ("flow", "pressure")
# A model check's time limit in these tests: the gateway's default. A good model's check
# takes ~0.15 s after the child's imports here, but the child runs at a lower priority
# (analytics.model_check) and waits for a core on the loaded 2-core CI machine, where 2 s
# was too little once (the good file after the endless one was refused as endless too).
# An endless model is refused only after it, so these tests wait that long.
CHECK_TIMEOUT_S = 10.0



def model_bytes(tmp_path: Path, signals: tuple[str, ...], seed: int) -> bytes:
    """A model file named as the running one, trained on other data (another version)."""
    folder = tmp_path / f"trained-{seed}"
    folder.mkdir()
    train(normal_recording(tmp_path / f"data-{seed}.csv", signals, seed=seed),
          folder / "pump.onnx", signals)
    return (folder / "pump.onnx").read_bytes()


def shared_config(server: PymodbusServer, models_dir: Path, data_dir: Path) -> GatewayConfig:
    """pump1 (flow, pressure, temperature) and pump2 (flow, pressure) share pump.onnx."""
    config = config_for(server, models_dir)
    pump1 = config.assets[0]
    pump2 = pump1.model_copy(update={
        "name": "pump2", "inputs": {s: pump1.inputs[s] for s in BOTH}, "alarms": False,
    })
    return config.model_copy(update={
        "gateway": config.gateway.model_copy(update={"data_dir": data_dir}),
        "assets": [pump1, pump2],
    })


def bounded_config(server: PymodbusServer, models_dir: Path, data_dir: Path) -> GatewayConfig:
    """`shared_config` with model checks limited to CHECK_TIMEOUT_S."""
    config = shared_config(server, models_dir, data_dir)
    analytics = config.analytics.model_copy(update={"check_timeout": CHECK_TIMEOUT_S})
    return config.model_copy(update={"analytics": analytics})


def peak_rss_mib() -> float:
    """The peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def running_version(dv: ua.DataValue) -> str:
    """The version in an asset's ModelVersion variable ("<kind>: <version>", one kind)."""
    kind, _, version = dv.Value.Value.partition(": ")
    assert kind == "anomaly"
    return version


def manager_of(gateway: Gateway) -> ModelManager:
    assert gateway.running.models is not None
    return gateway.running.models


def anomaly_model(manager: ModelManager, asset: str) -> ModelInfo:
    (entry,) = [e for e in manager.assets() if e.asset == asset]
    (info,) = entry.models
    return info


async def test_refused_uploads_say_why_and_change_nothing(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    data_dir = tmp_path / "var"
    model_file = models_dir / "pump.onnx"
    original = model_file.read_bytes()
    CENTRE["vibration"] = 2.0
    try:
        unmapped = model_bytes(tmp_path, ("flow", "vibration"), seed=11)
    finally:
        del CENTRE["vibration"]
    # pump1 maps temperature, pump2 does not: the file both use cannot take it.
    for_pump1_only = model_bytes(tmp_path, ("flow", "temperature"), seed=12)

    async with running(shared_config(modbus_tcp_server, models_dir, data_dir)) as (gw, client):
        node = node_of(gw, client)
        first = running_version(await wait_value(node("pump1.ModelVersion"), good, "a version"))
        manager = manager_of(gw)

        corrupt = await manager.upload("pump1", "anomaly", b"not an onnx model", "anna")
        assert not corrupt.accepted
        assert corrupt.version is None
        assert "uploaded pump.onnx: not a loadable ONNX model" in str(corrupt.reason)

        missing = await manager.upload("pump1", "anomaly", unmapped, "anna")
        assert "pump1: uploaded pump.onnx needs inputs vibration" in str(missing.reason)
        assert "pump2: uploaded pump.onnx needs inputs vibration" in str(missing.reason)

        shared = await manager.upload("pump1", "anomaly", for_pump1_only, "anna")
        assert str(shared.reason).startswith("pump2: uploaded pump.onnx needs inputs temperature")

        huge = await manager.upload("pump1", "anomaly", bytes(MAX_MODEL_BYTES + 1), "anna")
        assert "64 MiB at most" in str(huge.reason)

        with pytest.raises(ModelRequestError, match="asset 'pump9' has no anomaly model"):
            await manager.upload("pump9", "anomaly", original, "anna")
        with pytest.raises(ModelRequestError, match="no archived version"):
            await manager.activate("pump1", "anomaly", "pump/20990101T000000Z/00000000", "anna")
        with pytest.raises(ModelRequestError, match="no earlier version"):
            await manager.roll_back("pump1", "anomaly", "anna")

        info = anomaly_model(manager, "pump1")
        assert (info.version, info.status, info.archive) == (first, f"ok: {first}", ())
        assert await node("pump1.ModelVersion").read_value() == f"anomaly: {first}"
    assert model_file.read_bytes() == original
    assert not (data_dir / "models").exists()


async def test_upload_activate_and_roll_back_without_a_restart(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    data_dir = tmp_path / "var"
    model_file = models_dir / "pump.onnx"
    original = model_file.read_bytes()
    newer = model_bytes(tmp_path, BOTH, seed=8)
    config = shared_config(modbus_tcp_server, models_dir, data_dir)

    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        first = running_version(await wait_value(node("pump1.ModelVersion"), good, "a version"))
        manager = manager_of(gateway)

        upload = await manager.upload("pump1", "anomaly", newer, "anna")
        assert upload.accepted
        assert upload.new
        second = upload.version
        assert second is not None
        assert second != first
        again = await manager.upload("pump2", "anomaly", newer, "ben")
        assert (again.version, again.new) == (second, False)
        # Archived, not active: the running model and the file in place are untouched.
        assert model_file.read_bytes() == original
        (archived,) = anomaly_model(manager, "pump1").archive
        assert (archived.version, archived.uploaded_by, archived.origin, archived.active) == (
            second, "anna", "upload", False)

        status = await manager.activate("pump1", "anomaly", second, "anna")

        assert status == f"ok: {second}"
        for asset in ("pump1", "pump2"):  # both assets run the file
            await wait_value(node(f"{asset}.ModelVersion"),
                             lambda dv: running_version(dv) == second,
                             f"{asset} to run the activated version")
        assert model_file.read_bytes() == newer
        info = anomaly_model(manager, "pump2")
        assert info.version == second
        assert {(v.version, v.origin, v.active) for v in info.archive} == {
            (second, "upload", True), (first, "in place", False)}
        before = await wait_value(node("pump1.AnomalyScore"), good, "a score")
        await wait_value(node("pump1.AnomalyScore"),
                         lambda dv: good(dv) and dv.SourceTimestamp > before.SourceTimestamp,
                         "scores from the activated model")

        status = await manager.roll_back("pump1", "anomaly", "ben")

        assert status == f"ok: {first}"
        await wait_value(node("pump1.ModelVersion"), lambda dv: running_version(dv) == first,
                         "the version before to run again")
        assert model_file.read_bytes() == original
        with pytest.raises(ModelRequestError, match="no earlier version"):
            await manager.roll_back("pump1", "anomaly", "ben")

    # The archive outlives the process: a restart lists the same versions.
    async with running(config) as (gateway, _):
        archive = anomaly_model(manager_of(gateway), "pump1").archive
        assert [(v.version, v.active) for v in archive] == [(second, False), (first, True)]


async def test_uploads_needing_too_much_memory_or_time_are_refused_and_change_nothing(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    """Issue #17: a model's test inference runs in a child process with a memory and a
    time limit; the gateway keeps its memory, its threads and its running model."""
    serve_values(modbus_tcp_server)
    newer = model_bytes(tmp_path, BOTH, seed=8)
    peak_before = peak_rss_mib()
    async with running(bounded_config(modbus_tcp_server, models_dir, tmp_path / "var")) as (
        gateway, client
    ):
        node = node_of(gateway, client)
        first = running_version(await wait_value(node("pump1.ModelVersion"), good, "a version"))
        manager = manager_of(gateway)

        greedy = await manager.upload("pump1", "anomaly", constant_of_shape(BOTH), "anna")
        endless = await manager.upload("pump1", "anomaly", endless_loop(BOTH), "anna")
        # A later upload is not held up by them.
        later = await manager.upload("pump1", "anomaly", newer, "anna")

        assert greedy.reason == ("uploaded pump.onnx: the model's test inference needed more "
                                 "than 512 MiB")
        assert endless.reason == ("uploaded pump.onnx: the model's test inference took longer "
                                  f"than {CHECK_TIMEOUT_S:g} s")
        assert later.accepted
        assert [v.version for v in anomaly_model(manager, "pump1").archive] == [later.version]
        assert await node("pump1.ModelVersion").read_value() == f"anomaly: {first}"
    # The 2 GiB were asked for in the child, not here.
    assert peak_rss_mib() - peak_before < 256


async def test_hot_reload_refuses_an_endless_model_and_keeps_scoring(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    """Issue #17: a file dropped into models_dir is checked in a bounded child too."""
    serve_values(modbus_tcp_server)
    model_file = models_dir / "pump.onnx"
    newer = model_bytes(tmp_path, BOTH, seed=8)
    async with running(bounded_config(modbus_tcp_server, models_dir, tmp_path / "var")) as (
        gateway, client
    ):
        node = node_of(gateway, client)
        first = running_version(await wait_value(node("pump1.ModelVersion"), good, "a version"))

        write_atomically(model_file, endless_loop(BOTH))

        await wait_value(
            node("pump1.ModelStatus"),
            lambda dv: dv.Value.Value == f"anomaly: rejected: {model_file}: the model's test "
                                         f"inference took longer than {CHECK_TIMEOUT_S:g} s",
            "the endless model's rejection")
        before = await node("pump1.AnomalyScore").read_data_value()
        await wait_value(node("pump1.AnomalyScore"),
                         lambda dv: good(dv) and dv.SourceTimestamp > before.SourceTimestamp,
                         "scoring to go on with the old model")
        assert await node("pump1.ModelVersion").read_value() == f"anomaly: {first}"

        write_atomically(model_file, newer)
        await wait_value(node("pump1.ModelVersion"), lambda dv: running_version(dv) != first,
                         "the next good file to be taken")


async def test_a_model_needing_too_much_memory_at_start_is_refused(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    """Issue #17: the start-up load runs the model in the bounded child as well; the
    refused file leaves its asset without the model, and the gateway starts."""
    write_atomically(models_dir / "pump.onnx", constant_of_shape(BOTH))
    peak_before = peak_rss_mib()

    config = bounded_config(modbus_tcp_server, models_dir, tmp_path / "var")
    async with running(config) as (gateway, client):
        await wait_value(node_of(gateway, client)("pump1.ModelStatus"),
                         lambda dv: "pump.onnx: the model's test inference needed more than "
                                    "512 MiB" in str(dv.Value.Value), "the refusal")
    assert peak_rss_mib() - peak_before < 256


async def test_a_file_with_an_archived_manifest_is_another_version(
    modbus_tcp_server: PymodbusServer, models_dir: Path, tmp_path: Path
) -> None:
    """Issue #17: versions are told apart by the file's content (sha256), not its manifest."""
    serve_values(modbus_tcp_server)
    newer = model_bytes(tmp_path, BOTH, seed=8)
    twin = restamped(newer)
    config = shared_config(modbus_tcp_server, models_dir, tmp_path / "var")
    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        manager = manager_of(gateway)

        first = await manager.upload("pump1", "anomaly", newer, "anna")
        second = await manager.upload("pump1", "anomaly", twin, "ben")

        assert (first.new, second.new) == (True, True)
        assert second.version not in (None, first.version)
        archive = anomaly_model(manager, "pump1").archive
        assert [(v.version, v.uploaded_by) for v in archive] == [
            (first.version, "anna"), (second.version, "ben")]
        assert second.version is not None
        status = await manager.activate("pump1", "anomaly", second.version, "ben")
        assert status == f"ok: {second.version}"
        assert (models_dir / "pump.onnx").read_bytes() == twin
        await wait_value(node("pump1.ModelVersion"),
                         lambda dv: running_version(dv) == second.version, "the twin to run")


@pytest.mark.parametrize(("source", "shown"), [
    ("/home/anna/tmp.2aNd0fpiEk/healthy.csv: rows 1-400 (commissioning); reference normal data "
     "/home/anna/tmp.2aNd0fpiEk/healthy.csv: 2400 rows",
     "healthy.csv: rows 1-400 (commissioning); reference normal data healthy.csv: 2400 rows"),
    (r"C:\Users\ivan\data\runs.csv", "runs.csv"),
    ("~/plant/runs.csv; ../x/b.csv, ./c.csv", "runs.csv; b.csv, c.csv"),
    ("data/runs.csv", "runs.csv"),
    ("/data/cmapss: C-MAPSS FD001 training runs", "cmapss: C-MAPSS FD001 training runs"),
    ("(/home/olga/x.csv)", "(x.csv)"),
    ("runs.csv", "runs.csv"),
    ("vibration in m/s2, 10-1000 Hz", "vibration in m/s2, 10-1000 Hz"),  # a unit, not a path
])
def test_the_page_sees_the_training_datas_file_names_not_its_folders(
    source: str, shown: str
) -> None:
    assert file_names(source) == shown
