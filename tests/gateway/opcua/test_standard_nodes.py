"""gateway.opcua.standard_nodes: the standard address space from its cache answers as
asyncua builds it, a stale, corrupt or foreign cache is rebuilt, and a data_dir that is
full or read-only still serves (issue #10's footprint, issue #17's storage rules)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import subprocess
from pathlib import Path

import pytest
from asyncua import Server, ua

from gateway.opcua import asyncua_internals
from gateway.opcua.asyncua_internals import NodeData, address_space
from gateway.opcua.standard_nodes import (
    CACHE_FILE,
    StandardNodes,
    compress,
    decode,
    encode,
    read_cache,
    use_standard_nodes,
)
from gateway.opcua.uatypes import standard_id
from tests.fixtures.disk import SmallDisk

_A = ua.AttributeIds


async def started(data_dir: Path) -> Server:
    server = Server()
    use_standard_nodes(server, data_dir)
    await server.init()
    return server


# Values asyncua's init sets to the time of the start (StartTime, CurrentTime, BuildDate).
STARTED_AT = {
    standard_id(ua.ObjectIds.Server_ServerStatus),
    standard_id(ua.ObjectIds.Server_ServerStatus_BuildInfo),
    standard_id(ua.ObjectIds.Server_ServerStatus_BuildInfo_BuildDate),
}


def node_facts(node: NodeData) -> tuple[object, ...]:
    """A node as a client sees it: every attribute's value (without timestamps, which
    asyncua sets at init) and its references."""
    values = {
        attr: (
            None
            if attribute.value is None or (attr == _A.Value and node.nodeid in STARTED_AT)
            else (attribute.value.Value, attribute.value.StatusCode)
        )
        for attr, attribute in node.attributes.items()
    }
    return node.nodeid, values, list(node.references)


async def test_every_standard_node_answers_as_asyncua_builds_it(tmp_path: Path) -> None:
    stock = Server()
    await stock.init()
    expected = address_space(stock)
    built = await started(tmp_path)  # builds the cache
    assert (tmp_path / CACHE_FILE).is_file()
    cached = await started(tmp_path)  # reads it
    for server in (built, cached):
        nodes = address_space(server)
        assert len(nodes.keys()) == len(expected.keys())
        for nodeid in expected.keys():  # noqa: SIM118 - an AddressSpace is no Mapping
            assert nodeid in nodes
            assert node_facts(nodes[nodeid]) == node_facts(expected[nodeid]), nodeid


async def test_a_cached_server_reads_only_the_nodes_asked_for(tmp_path: Path) -> None:
    await started(tmp_path)
    server = await started(tmp_path)
    nodes = server.iserver.aspace._nodes
    assert isinstance(nodes, StandardNodes)
    untouched = nodes.stored
    assert untouched > 5_000  # of ~6,200: init reads a few hundred
    objects = await server.nodes.objects.get_children()
    assert server.nodes.server in objects
    name = await server.get_node(ua.ObjectIds.AnalogUnitRangeType).read_display_name()
    assert name == ua.LocalizedText("AnalogUnitRangeType")
    assert nodes.stored < untouched


def test_the_node_map_behaves_as_a_dict() -> None:
    first, second, third = (standard_id(i) for i in (1, 2, 3))
    nodes = StandardNodes(compress({first: NodeData(first), second: NodeData(second)}))
    assert len(nodes) == 2
    assert first in nodes
    assert third not in nodes
    assert nodes.get(third) is None
    assert nodes[first].nodeid == first
    assert nodes.stored == 1
    assert nodes[first] is nodes[first]
    nodes[third] = NodeData(third)
    del nodes[second]
    del nodes[first]
    assert list(nodes) == [third]
    assert second not in nodes
    assert nodes.stored == 0
    with pytest.raises(KeyError):
        nodes[second]


@pytest.mark.parametrize(
    "damage",
    ["truncated", "flipped", "garbage", "empty", "other asyncua"],
)
async def test_a_damaged_or_stale_cache_is_rebuilt(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    await started(tmp_path)
    path = tmp_path / CACHE_FILE
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flipped":
        path.write_bytes(good[:-100] + bytes([good[-100] ^ 1]) + good[-99:])
    elif damage == "garbage":
        path.write_bytes(os.urandom(1000))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(good.replace(b'"asyncua": "', b'"asyncua": "0.', 1))
    assert read_cache(path) is None
    caplog.set_level(logging.INFO, logger="gateway.opcua.standard_nodes")
    server = await started(tmp_path)
    assert standard_id(ua.ObjectIds.Server) in address_space(server)
    assert read_cache(path) is not None
    assert "building the standard address space again" in caplog.text


def test_a_cache_naming_other_code_is_refused(tmp_path: Path) -> None:
    # A valid header and checksum over a pickle that would call something on load.
    body = pickle.dumps(_Calls(), pickle.HIGHEST_PROTOCOL)
    good = encode({})
    header = json.loads(good.splitlines()[1])
    header.update(nodes=1, sha256=hashlib.sha256(body).hexdigest())
    data = good.splitlines(keepends=True)[0] + json.dumps(header).encode() + b"\n" + body
    with pytest.raises(pickle.UnpicklingError, match="not an asyncua class"):
        decode(data)
    (tmp_path / CACHE_FILE).write_bytes(data)
    assert read_cache(tmp_path / CACHE_FILE) is None


async def test_a_full_data_dir_serves_without_a_cache(
    small_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    server = await started(small_disk.path)
    assert standard_id(ua.ObjectIds.Server) in address_space(server)
    assert not (small_disk.path / CACHE_FILE).exists()
    assert [entry.name for entry in small_disk.path.iterdir()] == []  # no temporary left
    assert "is not cached" in caplog.text


async def test_a_read_only_data_dir_serves_without_a_cache(
    read_only_disk: SmallDisk, caplog: pytest.LogCaptureFixture
) -> None:
    small_disk = read_only_disk
    server = await started(small_disk.path / "var")
    assert standard_id(ua.ObjectIds.Server) in address_space(server)
    assert "is not cached" in caplog.text
    assert "not writable" in caplog.text


@pytest.fixture
def read_only_disk(small_disk: SmallDisk) -> SmallDisk:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk.path)], check=True)
    return small_disk


def test_every_internal_it_uses_is_listed() -> None:
    listed = {str(internal) for internal in asyncua_internals.INTERNALS}
    assert {
        "InternalServer.load_standard_address_space",
        "InternalServer.node_mgt_service",
        "AddressSpace._nodes",
    } <= listed


class _Calls:
    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (os.getcwd, ())
