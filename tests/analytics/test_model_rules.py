"""What a model file may contain, checked on its bytes (issue #14): external data refused
wherever it points and wherever onnx.proto can hold a tensor, foreign operators and newer
opsets refused, declared sizes bounded, and the models the recipes make accepted."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from analytics.inference import Model
from analytics.model_file import ModelError
from analytics.model_rules import OPSETS, check_model_bytes
from analytics.training.export import TARGET_OPSET
from tests.fixtures.escaping_models import (
    custom_operator,
    huge_initializer,
    reading_file,
    scoring,
)

INPUTS = ("flow", "pressure")
SHIPPED = sorted((Path(__file__).parents[2] / "models_onnx").glob("*.onnx"))


def refusal(data: bytes, load_bytes: int = 512 * 2**20) -> str:
    with pytest.raises(ModelError) as refused:
        check_model_bytes(data, "m.onnx", load_bytes)
    return str(refused.value)


def external(tensor: onnx.TensorProto, location: str) -> onnx.TensorProto:
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    return tensor


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_models_pass(path: Path) -> None:
    check_model_bytes(path.read_bytes(), path.name)


def test_the_allowed_opsets_are_the_recipes() -> None:
    assert TARGET_OPSET is OPSETS


@pytest.mark.parametrize("location", ["/etc/passwd", "../web/session.key", "web/session.key",
                                      "weights.bin"])
def test_external_data_is_refused_wherever_it_points(location: str) -> None:
    assert refusal(reading_file(INPUTS, location)) == (
        f"m.onnx: tensor 'stolen' keeps its values in another file in {location!r} "
        "(external data); a model file must hold all of its tensors, refused")


def test_an_external_location_without_the_flag_is_refused() -> None:
    model = onnx.load_from_string(reading_file(INPUTS, "key"))
    model.graph.initializer[0].data_location = TensorProto.DEFAULT
    assert "(external data)" in refusal(model.SerializeToString())


def test_external_data_in_a_node_attribute_a_subgraph_and_a_sparse_tensor() -> None:
    constant = helper.make_node(
        "Constant", [], ["secret"],
        value=external(helper.make_tensor("inline", TensorProto.FLOAT, [], [0.0]), "k"))
    assert "tensor 'inline' keeps its values" in refusal(
        scoring(INPUTS, [constant], "secret", []))

    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["deep_out"],
                          value=external(helper.make_tensor("deep", TensorProto.FLOAT, [], [1]),
                                         "k"))],
        "branch", [], [helper.make_tensor_value_info("deep_out", TensorProto.FLOAT, [])])
    choose = helper.make_node("If", ["yes"], ["secret"], then_branch=branch, else_branch=branch)
    yes = helper.make_tensor("yes", TensorProto.BOOL, [], [True])
    assert "tensor 'deep' keeps its values" in refusal(
        scoring(INPUTS, [choose], "secret", [yes]))

    model = onnx.load_from_string(scoring(INPUTS, [], "zero", []))
    values = external(helper.make_tensor("values", TensorProto.FLOAT, [1], [1.0]), "k")
    indices = helper.make_tensor("indices", TensorProto.INT64, [1], [0])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    assert "tensor 'values' keeps its values" in refusal(model.SerializeToString())


def test_a_foreign_operator_domain_is_refused() -> None:
    assert refusal(custom_operator(INPUTS)) == (
        "m.onnx: node 'Leak' of the operator domain 'com.example.evil', which the gateway "
        "does not run (it runs ai.onnx up to opset 18, ai.onnx.ml up to opset 3); refused")
    model = onnx.load_from_string(scoring(INPUTS, [], "zero", []))
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))  # imported, unused
    assert "imports the operator set 'com.microsoft', which the gateway does not run" in \
        refusal(model.SerializeToString())


def test_a_newer_opset_and_local_functions_are_refused() -> None:
    model = onnx.load_from_string(scoring(INPUTS, [], "zero", []))
    model.opset_import[0].version = 21
    assert "imports ai.onnx opset 21, newer than the gateway runs" in refusal(
        model.SerializeToString())
    model.opset_import[0].version = 18
    model.functions.append(helper.make_function("com.example", "Leak", ["x"], ["y"], [
        helper.make_node("Identity", ["x"], ["y"])], [helper.make_opsetid("", 18)]))
    assert "defines its own functions" in refusal(model.SerializeToString())


def test_declared_sizes_beyond_a_load_are_refused() -> None:
    assert refusal(huge_initializer(INPUTS)) == (
        "m.onnx: tensor 'huge' [65536, 65536] brings the model's tensors to 16,384 MiB, more "
        "than a model load may take (512 MiB); refused")
    # Together: many tensors each below the bound.
    parts = [TensorProto(name=f"part{i}", data_type=TensorProto.DOUBLE, dims=[2**20])
             for i in range(3)]
    assert "brings the model's tensors to 24 MiB, more than a model load may take (16 MiB)" \
        in refusal(scoring(INPUTS, [], "zero", parts), load_bytes=16 * 2**20)
    model = onnx.load_from_string(scoring(INPUTS, [], "zero", []))
    model.graph.value_info.append(
        helper.make_tensor_value_info("sums", TensorProto.FLOAT, [2**40]))
    assert "declares a tensor [1099511627776], more than a model load may take" in refusal(
        model.SerializeToString())


@pytest.mark.parametrize("data", [b"", b"not a model", b"\x3a\xff\xff\xff\xff\x0f"])
def test_what_is_not_onnx_says_so(data: bytes) -> None:
    assert refusal(data).startswith("m.onnx: not a loadable ONNX model: ")


def test_loading_never_opens_what_external_data_names(tmp_path: Path) -> None:
    """Model.from_bytes (the child, `uvelka evaluate`, check-config) refuses before
    onnxruntime: opening a FIFO without a writer would block the load forever."""
    fifo = tmp_path / "session.key"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            Model.from_bytes(reading_file(INPUTS, os.path.relpath(fifo)), "m.onnx")
        except ModelError as exc:
            outcome.append(exc)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    loader.join(30.0)
    if loader.is_alive():  # blocked in open(): release it, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("the model's external data was opened")
    assert "(external data)" in str(outcome[0])
